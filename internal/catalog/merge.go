package catalog

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// merge applies the fields r gives onto m.
func merge(m *Model, r *rawModel) error {
	mergeStrings(m, r)
	var errs []error
	setF := func(field string, dst *Figure, raw *rawFigure) { setFigure(&errs, field, dst, raw) }
	setF("fp16_tflops", &m.FP16, r.FP16)
	setF("bf16_tflops", &m.BF16, r.BF16)
	setF("int8_tops", &m.INT8, r.INT8)
	setF("memory_gb", &m.MemoryGB, r.Memory)
	setF("memory_bandwidth_gbps", &m.BandwidthGBps, r.Bandwidth)
	setF("tdp_w", &m.TDPW, r.TDP)
	setF("list_price_cny", &m.ListPriceCNY, r.ListPrice)
	if r.Interconnect != nil {
		setString(&m.Interconnect, r.Interconnect.Name)
		setString(&m.Topology, r.Interconnect.Topology)
		setF("interconnect.bandwidth_gbps", &m.LinkGBps, r.Interconnect.Bandwidth)
	} else if m.LinkGBps.Conf == "" {
		m.LinkGBps.Conf = Unknown
	}
	errs = append(errs, mergeServer(m, r)...)
	errs = append(errs, mergeLabels(m, r)...)
	return errors.Join(errs...)
}

// setString sets *dst to v unless v is empty.
func setString(dst *string, v string) {
	if v != "" {
		*dst = v
	}
}

// mergeStrings applies the model's names and text fields.
func mergeStrings(m *Model, r *rawModel) {
	setString(&m.Vendor, r.Vendor)
	setString(&m.Family, r.Family)
	setString(&m.Name, r.Model)
	setString(&m.Country, strings.ToUpper(r.Country))
	setString(&m.Role, r.Role)
	setString(&m.MemoryType, r.MemoryType)
	setString(&m.Stack, r.Stack)
	setString(&m.PyTorch, r.PyTorch)
	setString(&m.DeviceCLI, r.DeviceCLI)
}

// setFigure sets *dst to the figure raw gives, or marks it unknown when
// neither raw nor an earlier layer gave one; a figure that does not parse
// is added to errs under field.
func setFigure(errs *[]error, field string, dst *Figure, raw *rawFigure) {
	if raw == nil {
		if dst.Conf == "" {
			dst.Conf = Unknown
		}
		return
	}
	f, err := raw.figure()
	if err != nil {
		*errs = append(*errs, fmt.Errorf("%s: %w", field, err))
		return
	}
	*dst = f
}

// mergeServer applies the cards in a server (default 8) and in a
// scale-up domain (default: a server's).
func mergeServer(m *Model, r *rawModel) []error {
	var errs []error
	if r.CardsPerServer != nil {
		var f Figure
		setFigure(&errs, "cards_per_server", &f, r.CardsPerServer)
		if f.Known {
			if f.Milli%1000 != 0 || f.Milli <= 0 {
				errs = append(errs, fmt.Errorf("cards_per_server: %s is not a positive whole number", milliString(f.Milli)))
			} else {
				m.CardsPerServer = int(f.Milli / 1000)
			}
		}
	}
	if m.CardsPerServer == 0 {
		m.CardsPerServer = 8
	}
	if r.DomainCards != nil {
		if *r.DomainCards <= 0 {
			errs = append(errs, fmt.Errorf("domain_cards: %d must be positive", *r.DomainCards))
		} else {
			m.DomainCards = *r.DomainCards
		}
	}
	if m.DomainCards == 0 {
		m.DomainCards = m.CardsPerServer
	}
	return errs
}

// mergeLabels applies the Kubernetes resource names, the node labels and
// the sources.
func mergeLabels(m *Model, r *rawModel) []error {
	var errs []error
	if len(r.K8s) > 0 {
		res, err := resourceNames(r.K8s)
		if err != nil {
			errs = append(errs, fmt.Errorf("k8s_resources: %w", err))
		}
		m.K8sResources = res
	}
	if len(r.NodeLabels) > 0 {
		var labels map[string]string
		if err := json.Unmarshal(r.NodeLabels, &labels); err != nil {
			errs = append(errs, fmt.Errorf("node_labels: want a map of strings: %w", err))
		} else if len(labels) > 0 {
			m.NodeLabels = labels
		}
	}
	if len(r.Sources) > 0 {
		// An overlay adds sources to the model's own (a copy: the map is
		// shared with the catalog the overlay started from).
		old := m.Sources
		m.Sources = make(map[string]string, len(old)+len(r.Sources))
		for k, v := range old {
			m.Sources[k] = v
		}
		for _, s := range r.Sources {
			m.Sources[s.ID] = s.Ref
		}
	}
	return errs
}

var resourceName = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]*[a-z0-9])?\.[a-z]+/[A-Za-z0-9][A-Za-z0-9._<>-]*$`)

// resourceNames collects every Kubernetes extended resource name in the
// data's k8s_resources block, whatever its nesting ("count", "memory",
// "native" …, several names joined by '|').
func resourceNames(raw json.RawMessage) ([]string, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var walk func(any)
	walk = func(v any) {
		switch t := v.(type) {
		case string:
			for _, part := range strings.FieldsFunc(t, func(r rune) bool { return r == '|' || r == ',' || r == ' ' }) {
				if resourceName.MatchString(part) && !strings.Contains(part, "<") {
					seen[part] = true
				}
			}
		case map[string]any:
			for k, x := range t {
				if k != "note" {
					walk(x)
				}
			}
		case []any:
			for _, x := range t {
				walk(x)
			}
		}
	}
	walk(v)
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}
