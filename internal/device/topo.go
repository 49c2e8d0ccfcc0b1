package device

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// matrixSpec describes one tool's link-type matrix ("npu-smi info -t topo",
// "mx-smi topo -m", "nvidia-smi topo -m"): the device label prefix of its
// rows and columns, and which link words mean the vendor fabric.
type matrixSpec struct {
	tool   string
	vendor string
	prefix string // "NPU", "GPU"
	fabric string // name reported in Domain.Fabric
	isLink func(cell string) bool
}

var (
	npuTopo = matrixSpec{tool: "npu-smi", vendor: Huawei, prefix: "NPU", fabric: "HCCS",
		isLink: func(c string) bool { return c == "HCCS" || c == "HCCS_SW" || c == "SIO" }}
	mxTopo = matrixSpec{tool: "mx-smi", vendor: MetaX, prefix: "GPU", fabric: "MetaXLink",
		isLink: func(c string) bool { return c == "MX" }}
	nvLinkCell = regexp.MustCompile(`^NV[0-9]+$`)
	nvTopo     = matrixSpec{tool: "nvidia-smi", vendor: Nvidia, prefix: "GPU", fabric: "NVLink",
		isLink: nvLinkCell.MatchString}
)

// ParseNPUTopo reads `npu-smi info -t topo`: NPUs joined by HCCS form a
// domain.
func ParseNPUTopo(out []byte) (Topology, error) { return parseMatrix(npuTopo, out) }

// ParseMXSMITopo reads `mx-smi topo -m`: GPUs joined by MetaXLink (MX) form
// a domain.
func ParseMXSMITopo(out []byte) (Topology, error) { return parseMatrix(mxTopo, out) }

// ParseNvidiaTopo reads `nvidia-smi topo -m`: GPUs joined by NVLink (NV#)
// form a domain.
func ParseNvidiaTopo(out []byte) (Topology, error) { return parseMatrix(nvTopo, out) }

func parseMatrix(spec matrixSpec, out []byte) (Topology, error) {
	label := regexp.MustCompile(`^` + spec.prefix + `([0-9]{1,5})$`)
	lines := splitLines(out)
	head := -1
	var cols []int   // header token position of each device column
	var colIDs []int // device index of each device column
	for i, l := range lines {
		f := strings.Fields(l)
		for k, tok := range f {
			if m := label.FindStringSubmatch(tok); m != nil {
				n, _ := strconv.Atoi(m[1])
				cols, colIDs = append(cols, k), append(colIDs, n)
			}
		}
		// The header names the devices; a row also holds "X" for itself.
		if len(cols) > 0 && !hasField(f, "X") {
			head = i
			break
		}
		cols, colIDs = nil, nil
	}
	if head < 0 {
		return Topology{}, &ParseError{Tool: spec.tool, Want: "a matrix header row naming the devices (" + spec.prefix + "0 " + spec.prefix + "1 …)"}
	}
	n := len(colIDs)
	pos := map[int]int{} // device index → matrix position
	for p, id := range colIDs {
		if _, dup := pos[id]; dup {
			return Topology{}, errAt(spec.tool, head, lines[head], "each device named once in the header")
		}
		pos[id] = p
	}
	link := make([][]bool, n)
	seen := make([]bool, n)
	rows := 0
	for i := head + 1; i < len(lines); i++ {
		f := strings.Fields(lines[i])
		if len(f) == 0 {
			if rows > 0 {
				break
			}
			continue
		}
		m := label.FindStringSubmatch(f[0])
		if m == nil {
			if rows > 0 {
				break // the legend or another section
			}
			continue
		}
		id, _ := strconv.Atoi(m[1])
		p, ok := pos[id]
		if !ok || seen[p] {
			return Topology{}, errAt(spec.tool, i, lines[i], "a row for a device named once in the header")
		}
		seen[p] = true
		rows++
		link[p] = make([]bool, n)
		for q, k := range cols {
			if 1+k >= len(f) {
				return Topology{}, errAt(spec.tool, i, lines[i], strconv.Itoa(len(cols))+" link types, one per column")
			}
			cell := f[1+k]
			if q == p {
				if cell != "X" {
					return Topology{}, errAt(spec.tool, i, lines[i], `"X" on the diagonal, got `+cell)
				}
				continue
			}
			link[p][q] = spec.isLink(cell)
		}
	}
	if rows != n {
		return Topology{}, &ParseError{Tool: spec.tool, Line: len(lines),
			Want: strconv.Itoa(n) + " matrix rows, one per device in the header, found " + strconv.Itoa(rows) + "; the output looks truncated"}
	}
	// A pair counts as linked only when both rows say so.
	adj := func(a, b int) bool { return link[a][b] && link[b][a] }
	return Topology{Domains: cliques(spec, colIDs, adj)}, nil
}

// cliques partitions devices into groups in which every pair is linked,
// greedily in index order: a device joins the first group it is linked to
// every member of. For the full meshes and the blocks of full meshes that
// vendors build this finds the exact domains; a partial mesh yields the
// largest complete groups the greedy order finds.
func cliques(spec matrixSpec, ids []int, adj func(a, b int) bool) []Domain {
	order := make([]int, len(ids))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return ids[order[a]] < ids[order[b]] })
	var groups [][]int
	for _, p := range order {
		placed := false
		for g := range groups {
			all := true
			for _, q := range groups[g] {
				if !adj(p, q) {
					all = false
					break
				}
			}
			if all {
				groups[g] = append(groups[g], p)
				placed = true
				break
			}
		}
		if !placed {
			groups = append(groups, []int{p})
		}
	}
	ds := make([]Domain, 0, len(groups))
	for _, g := range groups {
		d := Domain{Vendor: spec.vendor}
		if len(g) > 1 {
			d.Fabric = spec.fabric
		}
		for _, p := range g {
			d.Indices = append(d.Indices, ids[p])
		}
		ds = append(ds, d)
	}
	sortDomains(ds)
	return ds
}

func hasField(f []string, s string) bool {
	for _, x := range f {
		if x == s {
			return true
		}
	}
	return false
}
