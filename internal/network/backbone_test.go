package network

import (
	"math"
	"testing"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
)

// TestPathsAndUsers: routes take the least round trip over the default
// network's links, at their narrowest link; users are found at sites and
// province capitals.
func TestPathsAndUsers(t *testing.T) {
	net, err := Default(catalog.Default())
	if err != nil {
		t.Fatal(err)
	}
	p := net.Paths()
	// Xining reaches Beijing through Qingyang: 8.0 + 13.6 ms, 400 Gbps.
	rtt, gbps, ok := p.Route("cu-xining", "cm-beijing")
	if !ok || math.Abs(rtt-21.6) > 1e-9 || gbps != 400 {
		t.Errorf("xining→beijing = %v ms, %v Gbps, %v; want 21.6 ms, 400 Gbps", rtt, gbps, ok)
	}
	// Shanghai's two sites: the direct 800 Gbps link.
	if rtt, gbps, _ := p.Route("cm-shanghai-leased", "ct-shanghai"); rtt != 1.0 || gbps != 800 {
		t.Errorf("shanghai pair = %v ms, %v Gbps", rtt, gbps)
	}
	if rtt, _, ok := p.Route("cm-beijing", "cm-beijing"); !ok || rtt != 0 {
		t.Errorf("a site to itself = %v ms, %v", rtt, ok)
	}
	if _, _, ok := p.Route("cm-beijing", "atlantis"); ok {
		t.Error("a route to an unknown site")
	}
	// The same derivation as the links' RTTs: Hohhot–Beijing, 374 km, 5.6 ms.
	h, _ := net.Site("cm-hohhot")
	b, _ := net.Site("cm-beijing")
	if got := DistanceRTTms(h.Lat, h.Lon, b.Lat, b.Lon); math.Abs(got-5.6) > 0.1 {
		t.Errorf("hohhot–beijing derived RTT %.2f ms, the link says 5.6", got)
	}
	if lat, lon, ok := net.UsersAt("Guangdong"); !ok || lat != 23.13 || lon != 113.26 {
		t.Errorf("Guangdong at %v,%v %v", lat, lon, ok)
	}
	if lat, _, ok := net.UsersAt("cu-xining"); !ok || lat == 0 {
		t.Errorf("users at a site: %v %v", lat, ok)
	}
	if _, _, ok := net.UsersAt("guangdong"); ok {
		t.Error("province names are exact (the check suggests the spelling)")
	}
	// Unlinked: a network without links has no route between sites.
	net2 := &Network{Sites: []model.Site{{ID: "a"}, {ID: "b"}}}
	if _, _, ok := net2.Paths().Route("a", "b"); ok {
		t.Error("a route without links")
	}
}
