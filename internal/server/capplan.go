package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/suanli/suanli/internal/ledger"
	"github.com/suanli/suanli/internal/plan"
)

// The question the capacity plan endpoint answers: the operator's
// headline, 100 EFLOPS FP16 by 2028, from the network the server runs,
// at least cost, with the embedded supply file and the planner's defaults.
const (
	planTargetGFLOPS = 100_000_000_000
	planBy           = 2028
)

// CapacityPlan is GET /v1/capacity/plan: the plan to the target on the
// network as it stands, the target path year by year, or why there is no
// plan (Infeasible).
type CapacityPlan struct {
	TargetEF    float64 `json:"target_ef"`
	From        int     `json:"from"` // the year the network stands at
	By          int     `json:"by"`
	InstalledEF float64 `json:"installed_ef"`
	Objective   string  `json:"objective"`
	Utilisation float64 `json:"utilisation"`
	ComputedAt  string  `json:"computed_at"`
	SolveMillis int64   `json:"solve_ms"`
	// Plan is the planner's result (years, additions, envelopes, binding
	// constraints, gap); absent when Infeasible says why there is none.
	Plan       *plan.Result `json:"plan,omitempty"`
	Infeasible string       `json:"infeasible,omitempty"`
}

// planCache keeps one plan per base year: the network is fixed for the
// server's life, so the answer changes only with the year. The mutex is
// held while solving, so concurrent first requests solve once.
type planCache struct {
	mu   sync.Mutex
	year int
	plan *CapacityPlan
}

// CapacityPlan implements httpapi.Info.
func (s *Server) CapacityPlan(ctx context.Context) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := s.now()
	c := &s.planned
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.plan != nil && c.year == now.Year() {
		return c.plan, nil
	}
	out := &CapacityPlan{TargetEF: planTargetGFLOPS / 1e9, From: now.Year(), By: planBy, Objective: plan.MinCost,
		Utilisation: 0.7, ComputedAt: now.UTC().Format(time.RFC3339)}
	out.InstalledEF = float64(ledger.Capacity(s.net, nil).Total.GFLOPS) / 1e9
	sup, err := plan.ParseSupply(plan.DefaultSupply(), "embedded supply.yaml", s.net.Catalog)
	switch {
	case out.From >= out.By:
		out.Infeasible = fmt.Sprintf("the target year %d has passed (it is %d)", out.By, out.From)
	case err != nil:
		out.Infeasible = fmt.Sprintf("the supply file does not fit this network's catalog (suanli plan --supply takes another): %v", err)
	default:
		start := time.Now()
		res, err := plan.Solve(s.net, plan.Config{From: out.From, By: out.By, TargetGFLOPS: planTargetGFLOPS,
			Utilisation: out.Utilisation, Objective: out.Objective, Supply: sup})
		out.SolveMillis = time.Since(start).Milliseconds()
		if err != nil {
			out.Infeasible = err.Error()
		} else {
			out.Plan = res
		}
	}
	c.year, c.plan = now.Year(), out
	return out, nil
}
