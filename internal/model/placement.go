package model

import (
	"errors"
	"fmt"
)

// Assignment is one worker's (or replica's) cards on one node.
type Assignment struct {
	Worker int    `json:"worker"`
	Node   NodeID `json:"node"`
	Model  string `json:"model"`
	Cards  []int  `json:"cards"` // card indices on the node
	// ShareMilli and MemMiB are set for a fractional worker (one card).
	ShareMilli int   `json:"share_milli,omitempty"`
	MemMiB     int64 `json:"mem_mib,omitempty"`
	// CPUMilli and HostMemMiB are the host CPU and memory the worker holds
	// on its node.
	CPUMilli   int64 `json:"cpu_milli,omitempty"`
	HostMemMiB int64 `json:"host_mem_mib,omitempty"`
	// WorkShareMilli is this worker's share of a mixed-model gang's work, in
	// thousandths of the whole step, chosen to equalise step time: in
	// proportion to the job's throughput on the worker's cards (its own
	// rates, else its class's learned or default ones), else to their peak
	// FP16.
	WorkShareMilli int `json:"work_share_milli,omitempty"`
}

// Placement is where a job runs.
type Placement struct {
	Job         JobID        `json:"job"`
	Assignments []Assignment `json:"assignments"`
	// GFLOPS is the FP16 throughput the placement holds (after any mixed-gang
	// efficiency penalty).
	GFLOPS int64 `json:"gflops"`
}

// Tenant class, for policy.
type TenantClass string

// Tenant classes.
const (
	Government TenantClass = "government"
	StateOwned TenantClass = "state-owned"
	Private    TenantClass = "private"
	Foreign    TenantClass = "foreign"
)

// Tenant is an organisation that submits jobs.
type Tenant struct {
	ID    TenantID    `json:"id"`
	Name  string      `json:"name,omitempty"`
	Class TenantClass `json:"class"`
	// QuotaGFLOPS caps the FP16 throughput the tenant may hold at once,
	// normalised across vendors by the catalog (0 = no quota).
	QuotaGFLOPS int64 `json:"quota_gflops"`
	// Weight is the tenant's fair-share weight (default 1).
	Weight int `json:"weight"`
	// VendorCaps optionally caps the cards of one vendor the tenant holds.
	VendorCaps map[string]int `json:"vendor_caps,omitempty"`
}

// Validate reports every problem with the tenant.
func (t *Tenant) Validate() error {
	var errs []error
	if t.ID == "" {
		errs = append(errs, errors.New("id: missing"))
	}
	switch t.Class {
	case Government, StateOwned, Private, Foreign:
	default:
		errs = append(errs, fmt.Errorf("class: %q is not one of government, state-owned, private, foreign", t.Class))
	}
	if t.QuotaGFLOPS < 0 || t.QuotaGFLOPS > MaxGFLOPS {
		errs = append(errs, fmt.Errorf("quota_gflops: %d must be between 0 and %d (0: no quota)", t.QuotaGFLOPS, MaxGFLOPS))
	}
	if t.Weight < 0 || t.Weight > MaxWeight {
		errs = append(errs, fmt.Errorf("weight: %d must be between 0 and %d (0: the default, 1)", t.Weight, MaxWeight))
	}
	for v, n := range t.VendorCaps {
		if n < 0 || n > MaxVendorCap {
			errs = append(errs, fmt.Errorf("vendor_caps.%s: %d must be between 0 and %d cards", v, n, MaxVendorCap))
		}
	}
	return errors.Join(errs...)
}
