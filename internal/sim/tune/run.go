package tune

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/suanli/suanli/internal/sched"
)

// Config sets up Run.
type Config struct {
	Search SearchConfig
	// Train and Holdout are the seeds the search measures on and those the
	// chosen weights are reported on (disjoint).
	Train, Holdout []uint64
	// Baseline is the weights in use (default sched.DefaultConfig's); the
	// search starts from them and the objective is relative to them.
	Baseline sched.Weights
	// HoldoutWorkloads, if set, are measured on the held-out seeds in
	// place of the training workloads (more lists, say).
	HoldoutWorkloads *Workloads
}

// Row is one weight vector's outcome on a set of seeds.
type Row struct {
	Weights   sched.Weights `json:"weights"`
	Measures  Measures      `json:"measures"`
	Objective float64       `json:"objective"`
}

// Report is a tuning run: the search on the training seeds, and the
// baseline and chosen weights on the held-out seeds.
type Report struct {
	Objective string        `json:"objective"`
	Train     []uint64      `json:"train_seeds"`
	Holdout   []uint64      `json:"holdout_seeds"`
	Search    *SearchResult `json:"search"`
	// TrainBaseline and TrainChosen are on the training seeds.
	TrainBaseline Row `json:"train_baseline"`
	TrainChosen   Row `json:"train_chosen"`
	// Baseline and Chosen are on the held-out seeds; the objective there is
	// relative to the baseline on those seeds.
	Baseline Row `json:"holdout_baseline"`
	Chosen   Row `json:"holdout_chosen"`
	// Better: the chosen weights score below the baseline on the held-out
	// seeds; Recommended is what to run (Chosen's weights if Better, else
	// the baseline's).
	Better      bool          `json:"better"`
	Recommended sched.Weights `json:"recommended"`
}

// Run searches the weights on the training seeds and measures the best
// against the baseline on the held-out seeds.
func Run(ctx context.Context, wl *Workloads, cfg Config) (*Report, error) {
	if len(cfg.Train) == 0 || len(cfg.Holdout) == 0 {
		return nil, fmt.Errorf("tuning needs training and held-out seeds")
	}
	for _, s := range cfg.Holdout {
		if slices.Contains(cfg.Train, s) {
			return nil, fmt.Errorf("seed %d is both a training and a held-out seed", s)
		}
	}
	if cfg.Baseline == (sched.Weights{}) {
		cfg.Baseline = sched.DefaultConfig().Weights
	}
	base, err := wl.Measure(ctx, cfg.Baseline, cfg.Train)
	if err != nil {
		return nil, err
	}
	sc := cfg.Search
	sc.Start = append([]Point{PointOf(cfg.Baseline)}, sc.Start...)
	measured := &measureLog{m: map[string]Measures{}}
	res, err := Search(ctx, sc, func(ctx context.Context, p Point) (float64, error) {
		m, err := wl.Measure(ctx, Weights(p), cfg.Train)
		if err != nil {
			return 0, err
		}
		measured.put(p, m)
		return Objective(m, base), nil
	})
	if err != nil {
		return nil, err
	}
	r := &Report{Objective: ObjectiveText, Train: cfg.Train, Holdout: cfg.Holdout, Search: res,
		TrainBaseline: Row{Weights: cfg.Baseline, Measures: base, Objective: 1},
		TrainChosen:   Row{Weights: Weights(res.Best.Point), Measures: measured.get(res.Best.Point), Objective: res.Best.Value}}
	hw := wl
	if cfg.HoldoutWorkloads != nil {
		hw = cfg.HoldoutWorkloads
	}
	hb, err := hw.Measure(ctx, cfg.Baseline, cfg.Holdout)
	if err != nil {
		return nil, err
	}
	hc, err := hw.Measure(ctx, r.TrainChosen.Weights, cfg.Holdout)
	if err != nil {
		return nil, err
	}
	r.Baseline = Row{Weights: cfg.Baseline, Measures: hb, Objective: 1}
	r.Chosen = Row{Weights: r.TrainChosen.Weights, Measures: hc, Objective: Objective(hc, hb)}
	r.Better = r.Chosen.Objective < 1
	r.Recommended = cfg.Baseline
	if r.Better {
		r.Recommended = r.Chosen.Weights
	}
	return r, nil
}

// measureLog keeps the measures of the search's points; the search
// evaluates in parallel.
type measureLog struct {
	mu sync.Mutex
	m  map[string]Measures
}

func (l *measureLog) put(p Point, m Measures) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.m[p.String()] = m
}

func (l *measureLog) get(p Point) Measures {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m[p.String()]
}

// Table renders the report: the best evaluations of the search, then the
// baseline and the chosen weights on the training and held-out seeds.
func Table(r *Report, top int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Objective: %s\n", r.Objective)
	fmt.Fprintf(&b, "training seeds %v, held-out seeds %v; %d evaluations\n\n", r.Train, r.Holdout, len(r.Search.Evals))
	evals := slices.Clone(r.Search.Evals)
	slices.SortStableFunc(evals, func(a, b Eval) int {
		switch {
		case a.Value < b.Value:
			return -1
		case a.Value > b.Value:
			return 1
		}
		return 0
	})
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "RANK\tFRAG\tTOPOLOGY\tHETEROGENEITY\tCOST\tJ (TRAIN)\tPHASE\t")
	for i, e := range evals[:min(top, len(evals))] {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%.3f\t%s\t\n", i+1, e.Point[0], e.Point[1], e.Point[2], e.Point[3], e.Value, e.Phase)
	}
	tw.Flush()
	b.WriteString("\n")
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "WEIGHTS\tSEEDS\tUNALLOCATED GPUS\tMEAN WAIT\tP95 WAIT\tUTIL\tJ\t")
	for _, row := range []struct {
		name  string
		seeds string
		r     Row
	}{{"baseline", "train", r.TrainBaseline}, {"chosen", "train", r.TrainChosen}, {"baseline", "held-out", r.Baseline}, {"chosen", "held-out", r.Chosen}} {
		w := row.r.Weights
		m := row.r.Measures
		fmt.Fprintf(tw, "%s %d/%d/%d/%d\t%s\t%.1f\t%.0fs\t%.0fs\t%.2f%%\t%.3f\t\n", row.name, w.Frag, w.Topology, w.Heterogeneity, w.Cost,
			row.seeds, m.UnallocatedGPUs, m.QueueDelayS, m.QueueDelayP95S, 100*m.Util, row.r.Objective)
	}
	tw.Flush()
	if r.Better {
		fmt.Fprintf(&b, "\nthe chosen weights beat the baseline on the held-out seeds (J %.3f < 1): use frag %d, topology %d, heterogeneity %d, cost %d\n",
			r.Chosen.Objective, r.Recommended.Frag, r.Recommended.Topology, r.Recommended.Heterogeneity, r.Recommended.Cost)
	} else {
		fmt.Fprintf(&b, "\nthe chosen weights do not beat the baseline on the held-out seeds (J %.3f ≥ 1): the measurement supports the baseline\n", r.Chosen.Objective)
	}
	return b.String()
}
