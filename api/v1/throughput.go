package v1

import "time"

// JobRate is a job's observed throughput per card on one model: the
// geometric mean of its workers' progress reports.
type JobRate struct {
	Model   string  `json:"model"`
	Rate    float64 `json:"rate"` // work units per second per card
	Reports int64   `json:"reports"`
	Work    float64 `json:"work"`    // units reported in all
	Seconds float64 `json:"seconds"` // card-seconds they took
}

// ThroughputTable is the throughput matrix as the server knows it now:
// per workload class and accelerator model of the network, the default
// figure (the catalog's matrix) and what workers' progress reports taught
// (GET /v1/throughput).
type ThroughputTable struct {
	Entries []ThroughputEntry `json:"entries"`
}

// ThroughputEntry is one (workload class, model) pair, per card. Rate is
// the figure scheduling uses: the learned estimate (the reports' geometric
// mean shrunk toward Default, which counts as PriorWeight reports) where
// there are reports, else Default. Conf is "observed" once the reports
// outweigh the default, else the default's confidence (derived, estimated,
// observed, vendor-spec).
type ThroughputEntry struct {
	Class       string     `json:"class"`
	Model       string     `json:"model"`
	Unit        string     `json:"unit"`
	Rate        float64    `json:"rate"`
	Conf        string     `json:"conf"`
	Default     float64    `json:"default,omitempty"`
	DefaultConf string     `json:"default_conf,omitempty"`
	Learned     float64    `json:"learned,omitempty"` // the reports' geometric mean alone
	Reports     int64      `json:"reports"`
	Jobs        int        `json:"jobs,omitempty"` // jobs the reports came from
	PriorWeight float64    `json:"prior_weight,omitempty"`
	UpdatedAt   *time.Time `json:"updated_at,omitempty"`
}
