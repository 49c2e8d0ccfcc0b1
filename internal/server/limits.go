package server

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/httpapi"
	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
	"github.com/suanli/suanli/internal/store"
)

// MaxJobRecordBytes bounds a job's stored record at submit: its spec and
// workload as stored (JSON, escapes included) plus the largest placement
// it can be given. It is three quarters of the store's value limit
// (store.MaxValueBytes, which etcd's default request size binds): the last
// quarter is for what the scheduler adds while the job lives (its
// decision, reasons, completed workers, a few hundred bytes per requeue).
// Both stores apply it.
const MaxJobRecordBytes = store.MaxValueBytes * 3 / 4

// shape is the network's widest assignment fields, for estimating how
// large a placement can be.
type shape struct {
	node, model string
	cards       int // most cards on one node
}

var shapes sync.Map // *network.Network → shape

func shapeOf(n *network.Network) shape {
	if v, ok := shapes.Load(n); ok {
		return v.(shape)
	}
	var s shape
	for _, nd := range n.Nodes {
		if len(nd.ID) > len(s.node) {
			s.node = string(nd.ID)
		}
		if len(nd.Model) > len(s.model) {
			s.model = nd.Model
		}
		s.cards = max(s.cards, nd.Cards)
	}
	shapes.Store(n, s)
	return s
}

// placementBytes is an upper estimate of the encoded placement of a job of
// this shape: one assignment per worker, each with the network's longest
// node and model names and widest card indices.
func placementBytes(n *network.Network, j *model.Job) int {
	s := shapeOf(n)
	cards := j.CardsPerWorker
	if cards <= 0 {
		cards = 1
		if j.ShareMilli == 0 {
			cards = s.cards // sized by compute: up to a whole node
		}
	}
	idx := make([]int, cards)
	for i := range idx {
		idx[i] = max(s.cards-1, 0)
	}
	a := model.Assignment{Worker: j.Workers, Node: model.NodeID(s.node), Model: s.model, Cards: idx, ShareMilli: j.ShareMilli}
	if j.ShareMilli > 0 {
		a.MemMiB = max(j.MemMiB, 1<<20) // the card's memory when not asked
	}
	if j.Mixed {
		a.WorkShareMilli = model.MilliCard
	}
	b, _ := json.Marshal(a)
	return j.Workers*(len(b)+1) + 128
}

// boundRecord refuses a job whose record could outgrow MaxJobRecordBytes,
// naming the limit and what to shrink.
func (s *Server) boundRecord(rec *jobRecord, encoded int) error {
	p := placementBytes(s.net, &rec.Spec)
	if encoded+p <= MaxJobRecordBytes {
		return nil
	}
	var probs httpapi.Problems
	wl := 0
	if rec.Workload != nil {
		b, _ := json.Marshal(rec.Workload)
		wl = len(b)
	}
	if p > MaxJobRecordBytes/2 {
		per := max(p/max(rec.Spec.Workers, 1), 1)
		probs = append(probs, v1.Problem{Field: "spec.workers", Message: fmt.Sprintf(
			"%d workers take a placement record of about %d bytes; a job's record is limited to %d bytes (three quarters of the store's %d-byte value limit): at most about %d workers of this shape",
			rec.Spec.Workers, p, MaxJobRecordBytes, store.MaxValueBytes, max(MaxJobRecordBytes-encoded, 0)/per)})
	}
	if len(probs) == 0 || wl > MaxJobRecordBytes/4 {
		probs = append(probs, v1.Problem{Field: "workload", Message: fmt.Sprintf(
			"the command and env take %d bytes as stored (JSON-escaped: %s); with the spec and a placement of about %d bytes the job's record would be %d bytes, over the %d-byte limit (three quarters of the store's %d-byte value limit): pass large data as a file or URL",
			wl, escapeNote(rec), p, encoded+p, MaxJobRecordBytes, store.MaxValueBytes)})
	}
	return probs
}

// escapeNote says why a workload may be larger stored than sent.
func escapeNote(rec *jobRecord) string {
	if rec.Workload == nil {
		return "none"
	}
	vals := append([]string(nil), rec.Workload.Command...)
	for k, v := range rec.Workload.Env {
		vals = append(vals, k, v)
	}
	for _, v := range vals {
		if strings.ContainsAny(v, "<>&\"\\") || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 }) {
			return `characters such as < > & " \ and controls take up to 6 bytes each`
		}
	}
	return "as sent"
}
