// Package catalog holds every accelerator model Suanli knows as data: the
// facts of the embedded data file (each number with its confidence and
// sources) plus any operator overlay. It is the vocabulary layer: it imports
// nothing of the project.
package catalog

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"unicode"

	"sigs.k8s.io/yaml"
)

//go:embed data/accelerators.yaml
var embeddedFacts []byte

//go:embed data/suanli-extra.yaml
var embeddedExtra []byte

// Model is one accelerator model.
type Model struct {
	ID      string `json:"id"`
	Vendor  string `json:"vendor"`
	Family  string `json:"family"`
	Name    string `json:"model"`
	Country string `json:"country"`
	Role    string `json:"role"`

	FP16 Figure `json:"fp16_tflops"`
	BF16 Figure `json:"bf16_tflops"`
	INT8 Figure `json:"int8_tops"`

	MemoryGB      Figure `json:"memory_gb"`
	MemoryType    string `json:"memory_type,omitempty"`
	BandwidthGBps Figure `json:"memory_bandwidth_gbps"`
	TDPW          Figure `json:"tdp_w"`
	// ListPriceCNY is the purchase price of one card in CNY (a street or
	// distributor price where no list price is published), with its
	// confidence; unknown for most models.
	ListPriceCNY Figure `json:"list_price_cny"`

	Interconnect string `json:"interconnect,omitempty"`
	Topology     string `json:"topology,omitempty"`
	LinkGBps     Figure `json:"link_gbps"`
	// CardsPerServer is the usual number of cards in one server (8 when the
	// data does not say). DomainCards is the size of the model's
	// high-bandwidth domain: the cards one fabric joins at full speed (an
	// 8-card HCCS mesh, a 384-chip supernode).
	CardsPerServer int `json:"cards_per_server"`
	DomainCards    int `json:"domain_cards"`

	Stack        string            `json:"software_stack,omitempty"`
	PyTorch      string            `json:"pytorch_package,omitempty"`
	DeviceCLI    string            `json:"device_cli,omitempty"`
	K8sResources []string          `json:"k8s_resources,omitempty"`
	NodeLabels   map[string]string `json:"node_labels,omitempty"`
	Sources      map[string]string `json:"sources,omitempty"`
}

// Domestic reports whether the model is of Chinese origin.
func (m *Model) Domestic() bool { return m.Country == "CN" }

// Origin is "domestic" or "foreign".
func (m *Model) Origin() string {
	if m.Domestic() {
		return "domestic"
	}
	return "foreign"
}

// FP16GFLOPS is the dense FP16 throughput of one card in GFLOPS, with its
// confidence; ok is false when the catalog has no figure.
func (m *Model) FP16GFLOPS() (gflops int64, conf Confidence, ok bool) {
	if !m.FP16.Known {
		return 0, Unknown, false
	}
	return m.FP16.Milli, m.FP16.Conf, true // TFLOPS×1000 = GFLOPS
}

// PowerW is the board power of one card in watts: the TDP when the catalog
// has a figure, else the upper end of the range the sources give (counted
// as derived: a conservative estimate); ok is false when neither is known.
func (m *Model) PowerW() (w int64, conf Confidence, ok bool) {
	switch {
	case m.TDPW.Known:
		return m.TDPW.Milli / 1000, m.TDPW.Conf, true
	case m.TDPW.High > 0:
		return m.TDPW.High / 1000, Derived, true
	}
	return 0, Unknown, false
}

// PriceCNY is the purchase price of one card in CNY with its confidence
// (the upper end of a range when only a range is known); ok is false when
// the catalog has no figure.
func (m *Model) PriceCNY() (cny int64, conf Confidence, ok bool) {
	switch {
	case m.ListPriceCNY.Known:
		return m.ListPriceCNY.Milli / 1000, m.ListPriceCNY.Conf, true
	case m.ListPriceCNY.High > 0:
		return m.ListPriceCNY.High / 1000, Derived, true
	}
	return 0, Unknown, false
}

// MemMiB is the card memory in MiB (capacities in the data are binary GB),
// zero when unknown.
func (m *Model) MemMiB() int64 {
	if !m.MemoryGB.Known {
		return 0
	}
	return m.MemoryGB.Milli * 1024 / 1000
}

// Catalog is an immutable set of models.
type Catalog struct {
	models []*Model
	byKey  map[string]*Model
}

// Models returns every model in id order.
func (c *Catalog) Models() []*Model { return c.models }

// Lookup finds a model by id, by its name ("Ascend 910B3", "MLU370-X8"), or
// by one of its Kubernetes resource names. Matching ignores case, spaces,
// dashes and underscores.
func (c *Catalog) Lookup(name string) (*Model, bool) {
	key := normalize(name)
	if m, ok := c.byKey[key]; ok {
		return m, true
	}
	// A unique partial match ("910b3", "mlu590") is accepted too.
	var found *Model
	for _, m := range c.models {
		if key != "" && (strings.Contains(normalize(m.ID), key) || strings.Contains(normalize(shortName(m.Name)), key)) {
			if found != nil {
				return nil, false
			}
			found = m
		}
	}
	return found, found != nil
}

// ByResource finds the model a Kubernetes extended resource name counts,
// when exactly one model uses the name ("huawei.com/Ascend910B3"); generic
// names such as "nvidia.com/gpu" need ModelsByResource and a node label.
func (c *Catalog) ByResource(resource string) (*Model, bool) {
	ms := c.ModelsByResource(resource)
	if len(ms) != 1 {
		return nil, false
	}
	return ms[0], true
}

// ModelsByResource lists every model that uses a resource name.
func (c *Catalog) ModelsByResource(resource string) []*Model {
	var out []*Model
	for _, m := range c.models {
		for _, r := range m.K8sResources {
			if r == resource {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

func normalize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' || r == '/' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Default is the embedded catalog: the facts file plus the project's own
// overlay (domain sizes and the like). It panics only if the embedded data is
// broken, which the tests rule out.
func Default() *Catalog {
	c, err := Parse(embeddedFacts, "embedded accelerators.yaml")
	if err == nil {
		c, err = c.Overlay(embeddedExtra, "embedded suanli-extra.yaml")
	}
	if err != nil {
		panic(fmt.Sprintf("catalog: embedded data: %v", err))
	}
	return c
}

// LoadFile returns the default catalog extended or overridden by the
// operator's YAML file (same schema as the embedded data).
func LoadFile(path string) (*Catalog, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read catalog: %w", err)
	}
	return Default().Overlay(b, path)
}

type rawFile struct {
	SchemaVersion int        `json:"schema_version"`
	AsOf          string     `json:"as_of"`
	Accelerators  []rawModel `json:"accelerators"`
}

type rawModel struct {
	ID             string          `json:"id"`
	Vendor         string          `json:"vendor"`
	Family         string          `json:"family"`
	Model          string          `json:"model"`
	Country        string          `json:"country"`
	Role           string          `json:"role"`
	FP16           *rawFigure      `json:"fp16_tflops"`
	BF16           *rawFigure      `json:"bf16_tflops"`
	INT8           *rawFigure      `json:"int8_tops"`
	Memory         *rawFigure      `json:"memory_gb"`
	MemoryType     string          `json:"memory_type"`
	Bandwidth      *rawFigure      `json:"memory_bandwidth_gbps"`
	TDP            *rawFigure      `json:"tdp_w"`
	ListPrice      *rawFigure      `json:"list_price_cny"`
	Interconnect   *rawLink        `json:"interconnect"`
	CardsPerServer *rawFigure      `json:"cards_per_server"`
	DomainCards    *int            `json:"domain_cards"`
	Stack          string          `json:"software_stack"`
	PyTorch        string          `json:"pytorch_package"`
	DeviceCLI      string          `json:"device_cli"`
	K8s            json.RawMessage `json:"k8s_resources"`
	NodeLabels     json.RawMessage `json:"node_labels"`
	Sources        []rawSource     `json:"sources"`

	// Facts the data keeps that Suanli does not use yet; accepted so that
	// strict decoding still catches misspelt fields.
	FP32        json.RawMessage `json:"fp32_tflops"`
	AICores     json.RawMessage `json:"ai_cores"`
	AICPUs      json.RawMessage `json:"ai_cpus"`
	CLISample   string          `json:"cli_sample"`
	PodProducts json.RawMessage `json:"pod_products"`
	VNPU        json.RawMessage `json:"vnpu_templates"`
	MIG         json.RawMessage `json:"mig_profiles"`
	Shipments   json.RawMessage `json:"shipments"`
	Deployments json.RawMessage `json:"deployments"`
}

type rawLink struct {
	Name      string     `json:"name"`
	Topology  string     `json:"topology"`
	Bandwidth *rawFigure `json:"bandwidth_gbps"`
	Note      string     `json:"note"`
}

type rawSource struct {
	ID   string `json:"id"`
	Ref  string `json:"ref"`
	Conf string `json:"conf"`
	Note string `json:"note"`
}

// Parse reads a catalog data file on its own.
func Parse(data []byte, name string) (*Catalog, error) {
	return (&Catalog{byKey: map[string]*Model{}}).Overlay(data, name)
}

// Overlay returns a new catalog with the file's entries added, or merged
// into the existing model of the same id (fields the file gives replace
// the old ones). Every problem is reported, with the entry's path.
func (c *Catalog) Overlay(data []byte, name string) (*Catalog, error) {
	var f rawFile
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		// Strict decoding names the unknown field; keep the file name.
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	next := map[string]*Model{}
	for _, m := range c.models {
		cp := *m
		next[m.ID] = &cp
	}
	var errs []error
	for i, r := range f.Accelerators {
		path := fmt.Sprintf("%s: accelerators[%d]", name, i)
		if r.ID == "" {
			errs = append(errs, fmt.Errorf("%s.id: missing", path))
			continue
		}
		m, exists := next[r.ID]
		if !exists {
			m = &Model{ID: r.ID}
		}
		if err := merge(m, &r); err != nil {
			errs = append(errs, fmt.Errorf("%s (%s): %w", path, r.ID, err))
			continue
		}
		if err := m.check(); err != nil {
			errs = append(errs, fmt.Errorf("%s (%s): %w", path, r.ID, err))
			continue
		}
		next[r.ID] = m
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return build(next)
}

func build(models map[string]*Model) (*Catalog, error) {
	out := &Catalog{byKey: map[string]*Model{}}
	for _, m := range models {
		out.models = append(out.models, m)
	}
	sort.Slice(out.models, func(i, j int) bool { return out.models[i].ID < out.models[j].ID })
	// Ids win over names, names over resource names; an ambiguous name is
	// left out rather than guessed.
	ambiguous := map[string]bool{}
	add := func(key string, m *Model, strong bool) {
		k := normalize(key)
		if k == "" {
			return
		}
		if old, ok := out.byKey[k]; ok && old != m {
			if !strong {
				ambiguous[k] = true
			}
			return
		}
		out.byKey[k] = m
	}
	for _, m := range out.models {
		add(m.ID, m, true)
	}
	for _, m := range out.models {
		add(shortName(m.Name), m, false)
		add(memSuffix.ReplaceAllString(shortName(m.Name), ""), m, false)
		add(m.Vendor+" "+shortName(m.Name), m, false)
		for _, r := range m.K8sResources {
			add(r, m, false)
		}
	}
	for k := range ambiguous {
		if _, isID := models[k]; !isID {
			delete(out.byKey, k)
		}
	}
	return out, nil
}

var (
	parenthetical = regexp.MustCompile(`\s*\(.*$`)
	memSuffix     = regexp.MustCompile(`\s+\d+\s*GB$`)
)

// shortName drops the data file's commentary: "MLU370-X8 (dual-chip…)" →
// "MLU370-X8".
func shortName(s string) string {
	s = parenthetical.ReplaceAllString(s, "")
	if i := strings.Index(s, " / "); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

func (m *Model) check() error {
	var errs []error
	if m.Vendor == "" {
		errs = append(errs, errors.New("vendor: missing"))
	}
	if m.Name == "" {
		errs = append(errs, errors.New("model: missing"))
	}
	if len(m.Country) != 2 {
		errs = append(errs, fmt.Errorf("country: %q is not a two-letter ISO code", m.Country))
	}
	return errors.Join(errs...)
}
