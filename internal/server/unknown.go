package server

import (
	"sort"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/ledger"
)

// capacityReport is the live ledger and the capacity the server cannot
// see: nodes disconnected or lost because their agent (or their Kubernetes
// site's API server) is no longer heard from. Their cards are still counted in the
// ledger as installed; Unknown says how much of it is unknown now. The
// embedded report keeps the ledger's fields as they were.
type capacityReport struct {
	ledger.Report
	Unknown *unknownCapacity `json:"unknown,omitempty"`
}

// unknownCapacity is the capacity of disconnected and lost nodes;
// Disconnected counts the nodes whose work is still held for them.
type unknownCapacity struct {
	Nodes        int           `json:"nodes"`
	Disconnected int           `json:"disconnected_nodes"`
	Cards        int64         `json:"cards"`
	GFLOPS       int64         `json:"gflops"` // FP16
	Sites        []unknownSite `json:"sites"`
}

type unknownSite struct {
	Site         string `json:"site"`
	Nodes        int    `json:"nodes"`
	Disconnected int    `json:"disconnected_nodes"`
	Cards        int64  `json:"cards"`
	GFLOPS       int64  `json:"gflops"`
}

// unknown sums the capacity of the disconnected and lost nodes; nil when
// there is none.
func (s *Server) unknown() *unknownCapacity {
	var u unknownCapacity
	bySite := map[string]*unknownSite{}
	for i := range s.net.Nodes {
		n := &s.net.Nodes[i]
		rec, _, ok := s.v.node(n.ID)
		if !ok || (rec.State != v1.NodeLost && rec.State != v1.NodeDisconnected) {
			continue
		}
		var g int64
		if m := s.net.Model(n.Model); m != nil {
			per, _, _ := m.FP16GFLOPS()
			g = per * int64(n.Cards)
		}
		site := bySite[string(n.Site)]
		if site == nil {
			site = &unknownSite{Site: string(n.Site)}
			bySite[string(n.Site)] = site
		}
		if rec.State == v1.NodeDisconnected {
			site.Disconnected++
			u.Disconnected++
		}
		site.Nodes, site.Cards, site.GFLOPS = site.Nodes+1, site.Cards+int64(n.Cards), site.GFLOPS+g
		u.Nodes, u.Cards, u.GFLOPS = u.Nodes+1, u.Cards+int64(n.Cards), u.GFLOPS+g
	}
	if u.Nodes == 0 {
		return nil
	}
	for _, site := range bySite {
		u.Sites = append(u.Sites, *site)
	}
	sort.Slice(u.Sites, func(i, j int) bool { return u.Sites[i].Site < u.Sites[j].Site })
	return &u
}
