package device

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/suanli/suanli/internal/catalog"
)

// MaxSimulated bounds the number of devices one simulate spec may ask for.
const MaxSimulated = 1024

var simSpec = regexp.MustCompile(`^(.+?)[-_ ]?[xX×*]([0-9]+)$`)

// ParseSimulate turns a spec such as "Ascend910B3x8", "metax-c500x8" or
// "MLU370-X8x4" into that many healthy, idle devices of one catalog model,
// indexed from 0, with the model's memory. The model may be written as a
// catalog id, a catalog model name or a name a vendor tool prints
// ("910B3", "MetaX C500"), ignoring case, spaces and dashes.
func ParseSimulate(spec string) (Report, error) {
	return parseSimulate(defaultCatalog(), spec)
}

// defaultCatalog parses the embedded catalog once.
var defaultCatalog = sync.OnceValue(catalog.Default)

func parseSimulate(cat *catalog.Catalog, spec string) (Report, error) {
	bad := func(why string) error {
		return fmt.Errorf("simulate %q: %s; write MODELxCOUNT with MODEL a catalog id (metax-c500x8), "+
			"a model name (Ascend910B3x8) or a tool name (MLU370-X8x2) and COUNT 1..%d; catalog ids: %s",
			spec, why, MaxSimulated, strings.Join(catalogIDs(cat), " "))
	}
	m := simSpec.FindStringSubmatch(strings.TrimSpace(spec))
	if m == nil {
		return Report{}, bad("no xCOUNT suffix")
	}
	n, err := strconv.Atoi(m[2])
	if err != nil || n < 1 || n > MaxSimulated {
		return Report{}, bad("count " + m[2] + " out of range")
	}
	model := lookupModel(cat, m[1])
	if model == nil {
		return Report{}, bad("unknown model " + strconv.Quote(m[1]))
	}
	rep := Report{}
	vendor := vendorOf(model.ID)
	for i := range n {
		rep.Devices = append(rep.Devices, Device{Index: i, Vendor: vendor, Tool: "simulate",
			Name: model.Name, ModelID: model.ID, MemTotalMiB: model.MemMiB(),
			Health: Health{State: HealthOK, Raw: "simulated"}})
	}
	size := 1
	if model.Interconnect != "" && !strings.HasPrefix(strings.ToLower(model.Interconnect), "pcie") {
		size = model.DomainCards
	}
	if size < 1 {
		size = 1
	}
	for start := 0; start < n; start += size {
		d := Domain{Vendor: vendor}
		for i := start; i < n && i < start+size; i++ {
			d.Indices = append(d.Indices, i)
		}
		if len(d.Indices) > 1 {
			d.Fabric = model.Interconnect
		}
		rep.Topology.Domains = append(rep.Topology.Domains, d)
	}
	rep.finish()
	return rep, nil
}

// lookupModel finds a model by catalog id or name, then by tool name.
func lookupModel(cat *catalog.Catalog, name string) *catalog.Model {
	if m, ok := cat.Lookup(name); ok {
		return m
	}
	for _, r := range nameTable {
		if ModelID(r.vendor, name) == r.modelID {
			if m, ok := cat.Lookup(r.modelID); ok {
				return m
			}
		}
	}
	return nil
}

func catalogIDs(cat *catalog.Catalog) []string {
	var ids []string
	for _, m := range cat.Models() {
		ids = append(ids, m.ID)
	}
	sort.Strings(ids)
	return ids
}

// Simulated is a Discoverer that reports a fixed simulated node.
type Simulated struct{ Report Report }

// Discover implements Discoverer.
func (s Simulated) Discover(ctx context.Context) (Report, error) { return s.Report, ctx.Err() }
