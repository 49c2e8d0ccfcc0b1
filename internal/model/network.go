// Package model holds Suanli's domain types: the network (sites,
// high-bandwidth domains, nodes, cards), tenants, jobs and placements. Every
// type that crosses a package boundary validates itself and reports every
// problem with its field path.
package model

import "fmt"

// Typed identifiers.
type (
	SiteID   string
	DomainID string
	NodeID   string
	TenantID string
	JobID    string
)

// Ownership says whether a site is the operator's own or leased capacity.
type Ownership string

// Ownership values.
const (
	SelfBuilt Ownership = "self-built"
	Leased    Ownership = "leased"
)

// Valid reports whether o is a known value.
func (o Ownership) Valid() bool { return o == SelfBuilt || o == Leased }

// SiteKind says how Suanli reaches a site's nodes.
type SiteKind string

// Site kinds.
const (
	SiteAgents     SiteKind = "agents"     // Suanli's own node agents
	SiteKubernetes SiteKind = "kubernetes" // dispatched through the site's Kubernetes API
)

// Site is one intelligent computing centre.
type Site struct {
	ID        SiteID    `json:"id"`
	Name      string    `json:"name"`
	Region    string    `json:"region"`
	Operator  string    `json:"operator"`
	Province  string    `json:"province"`
	City      string    `json:"city"`
	Lat       float64   `json:"lat"`
	Lon       float64   `json:"lon"`
	Ownership Ownership `json:"ownership"`
	Kind      SiteKind  `json:"kind"`
	// PUEMilli is the power usage effectiveness in thousandths (1150 = 1.15).
	PUEMilli int64 `json:"pue_milli"`
	// PowerFenPerKWh is the electricity price in fen (0.01 CNY) per kWh.
	PowerFenPerKWh int64 `json:"power_fen_per_kwh"`
	// General-purpose compute outside the accelerator nodes: CPU cores and
	// the FLOPS of one core (GFLOPS), from the spec.
	GeneralCPUCores  int64  `json:"general_cpu_cores"`
	GFLOPSPerCPUCore int64  `json:"gflops_per_cpu_core"`
	Kubeconfig       string `json:"kubeconfig,omitempty"`
	// GangEndpoint is where workers at other sites reach the rank-0 worker
	// of a gang that runs here (a Kubernetes site: a node's or load
	// balancer's address forwarding a NodePort range); nil: none, so a
	// gang spanning sites cannot have its rank 0 here.
	GangEndpoint *GangEndpoint `json:"gang_endpoint,omitempty"`
	// LostAfterSec is how long a node of the site may stay disconnected
	// before its work is requeued elsewhere (0: the server's default).
	LostAfterSec int64 `json:"lost_after_sec,omitempty"`
}

// GangEndpoint is a site's address for cross-site rendezvous: Host (an IP
// or DNS name other sites reach) and the NodePort range [PortMin, PortMax]
// it forwards.
type GangEndpoint struct {
	Host    string `json:"host"`
	PortMin int    `json:"port_min"`
	PortMax int    `json:"port_max"`
}

// DomainKind names what a high-bandwidth domain is physically.
type DomainKind string

// Domain kinds.
const (
	DomainServer    DomainKind = "server"    // one server's card mesh (e.g. 8-NPU HCCS)
	DomainRack      DomainKind = "rack"      // a rack-scale fabric
	DomainSupernode DomainKind = "supernode" // a supernode (e.g. 384-NPU UB fabric)
)

// Domain is a set of nodes whose cards one fabric joins at full speed.
type Domain struct {
	ID    DomainID   `json:"id"`
	Site  SiteID     `json:"site"`
	Kind  DomainKind `json:"kind"`
	Model string     `json:"model"`
	Nodes []NodeID   `json:"nodes"`
}

// Node is one accelerator server.
type Node struct {
	ID       NodeID            `json:"id"`
	Site     SiteID            `json:"site"`
	Domain   DomainID          `json:"domain"`
	Model    string            `json:"model"` // catalog id
	Cards    int               `json:"cards"`
	CPUCores int64             `json:"cpu_cores"`
	MemGiB   int64             `json:"mem_gib"`
	Labels   map[string]string `json:"labels,omitempty"`
}

// CardID names one card: node and index.
type CardID struct {
	Node  NodeID `json:"node"`
	Index int    `json:"index"`
}

func (c CardID) String() string { return fmt.Sprintf("%s/%d", c.Node, c.Index) }
