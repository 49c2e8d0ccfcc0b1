package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/suanli/suanli/internal/ledger"
	"github.com/suanli/suanli/internal/network"
	"github.com/suanli/suanli/internal/plan"
)

type planConfig struct {
	net          netFlags
	target       string
	by, from     int
	supply       string
	budgets      []string
	minDomestic  float64
	utilisation  float64
	objective    string
	json         bool
	writeNetwork int
	out          string
	maxNodes     int
	scenario     string
	replaySpan   time.Duration // with scenario: replay a synthetic workload this long on each planned network
}

func init() { register(newPlanCmd) }

func newPlanCmd() *cobra.Command {
	var c planConfig
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Plan the build-out to a capacity target: cards of each model at each site per year, at least cost or carbon",
		Long: `Plan solves a linear program (gonum's simplex) for the servers of each model to add
at each site in each year so that the network follows a geometric path from its
installed FP16 EFLOPS to the target, within each site's power envelope (power_mw and
power_mw_by_year in the network spec; sites without one take no new cards), the
vendors' supply per year (--supply, a YAML; the embedded default carries its sources),
yearly capex budgets and a minimum domestic share, minimising capex plus energy opex
over the horizon (or CO2 with --objective carbon). Whole servers come from
branch-and-bound from a rounded plan; the gap to the best bound is reported. Binding
constraints are priced by re-solving with each relaxed by one step.`,
		Example: `  suanli plan --target 100EF --by 2028 --from 2025
  suanli plan --target 100EF --by 2028 --from 2025 --min-domestic 0.9 --budget 2026=8e9 --budget 2027=8e9
  suanli plan --target 100EF --by 2028 --from 2025 --objective carbon --json
  suanli plan --target 100EF --by 2028 --from 2025 --write-network 2028 --out planned-2028.yaml
  suanli plan --target 100EF --by 2028 --from 2025 --scenario default --replay 24h`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runPlan(cmd, &c) },
	}
	c.net.add(cmd)
	f := cmd.Flags()
	f.StringVar(&c.target, "target", "", "FP16 capacity target, e.g. 100EF (required)")
	f.IntVar(&c.by, "by", 0, "year the target is due (required)")
	f.IntVar(&c.from, "from", 0, "year the network stands at, its end (default: this year)")
	f.StringVar(&c.supply, "supply", "", "supply YAML: models, price per card, cards per year (default: the embedded file)")
	f.StringArrayVar(&c.budgets, "budget", nil, "capex budget of a year in CNY, YEAR=CNY (repeatable), e.g. 2027=8e9")
	f.Float64Var(&c.minDomestic, "min-domestic", 0, "least domestic share of FP16 FLOPS in every year, 0-1")
	f.Float64Var(&c.utilisation, "utilisation", 0.7, "average load the energy opex and CO2 assume, 0-1")
	f.StringVar(&c.objective, "objective", plan.MinCost, "cost (capex + energy opex) or carbon")
	f.BoolVar(&c.json, "json", false, "print the plan as JSON")
	f.IntVar(&c.writeNetwork, "write-network", 0, "write the network as planned at the end of this year, as a spec (to --out or stdout)")
	f.StringVar(&c.out, "out", "", "file for --write-network (default: stdout)")
	f.IntVar(&c.maxNodes, "max-nodes", 200, "branch-and-bound limit in LP solves")
	f.StringVar(&c.scenario, "scenario", "", "compare what-ifs side by side: a scenario YAML, or \"default\" for the embedded ones")
	f.DurationVar(&c.replaySpan, "replay", 0, "with --scenario: replay the same synthetic workload (this many hours of arrivals, e.g. 24h; sized for the first planned network) on each scenario's network planned for --by, and report queueing delay and utilisation")
	return cmd
}

func runPlan(cmd *cobra.Command, c *planConfig) error {
	cfg, errs := c.planFlags()
	if len(errs) > 0 {
		return usageErr(errors.Join(errs...))
	}
	n, err := c.net.load()
	if err != nil {
		return err
	}
	data, name := plan.DefaultSupply(), "embedded supply.yaml"
	if c.supply != "" {
		if data, err = os.ReadFile(c.supply); err != nil {
			return usageErr(fmt.Errorf("--supply: %w", err))
		}
		name = c.supply
	}
	if cfg.Supply, err = plan.ParseSupply(data, name, n.Catalog); err != nil {
		return usageErr(err)
	}
	if c.scenario != "" {
		return runScenarios(cmd, c, n, cfg)
	}
	r, err := plan.Solve(n, cfg)
	if err != nil {
		return usageErr(err)
	}
	out := cmd.OutOrStdout()
	if c.writeNetwork != 0 {
		spec, err := plannedSpec(c, r, c.writeNetwork)
		if err != nil {
			return err
		}
		if c.out == "" {
			_, err = out.Write(spec)
			return err
		}
		if err := os.WriteFile(c.out, spec, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "wrote the network planned for end-%d to %s\n", c.writeNetwork, c.out)
		return nil
	}
	if c.json {
		return printJSON(out, r)
	}
	return writePlan(out, c, n, r)
}

// planFlags checks the flags and turns them into the planning question
// (its supply still to load), listing every problem.
func (c *planConfig) planFlags() (plan.Config, []error) {
	var errs []error
	if c.target == "" || c.by == 0 {
		errs = append(errs, errors.New("--target and --by are required, e.g. --target 100EF --by 2028"))
	}
	target, err := ledger.ParseFLOPS(c.target)
	if c.target != "" && err != nil {
		errs = append(errs, fmt.Errorf("--target: %w", err))
	}
	if c.from == 0 {
		c.from = time.Now().Year()
	}
	budgets := map[int]float64{}
	for _, b := range c.budgets {
		ys, vs, ok := strings.Cut(b, "=")
		y, err1 := strconv.Atoi(ys)
		v, err2 := strconv.ParseFloat(vs, 64)
		if !ok || err1 != nil || err2 != nil {
			errs = append(errs, fmt.Errorf("--budget %q: want YEAR=CNY, e.g. 2027=8e9", b))
			continue
		}
		budgets[y] = v
	}
	if c.writeNetwork != 0 && (c.writeNetwork <= c.from || c.writeNetwork > c.by) {
		errs = append(errs, fmt.Errorf("--write-network %d: want a planned year, %d-%d", c.writeNetwork, c.from+1, c.by))
	}
	if c.scenario != "" && c.writeNetwork != 0 {
		errs = append(errs, errors.New("--scenario and --write-network: choose one"))
	}
	if c.maxNodes < 0 {
		errs = append(errs, fmt.Errorf("--max-nodes %d must not be negative", c.maxNodes))
	}
	errs = append(errs, c.replayFlagErrs()...)
	cfg := plan.Config{From: c.from, By: c.by, TargetGFLOPS: target, Budget: budgets, MinDomestic: c.minDomestic,
		Utilisation: c.utilisation, Objective: c.objective, MaxNodes: c.maxNodes}
	if c.maxNodes == 0 {
		cfg.MaxNodes = -1
	}
	return cfg, errs
}

// runScenarios solves each what-if and prints them side by side, with a
// replay of one synthetic workload on each planned network when asked.
func runScenarios(cmd *cobra.Command, c *planConfig, n *network.Network, cfg plan.Config) error {
	data, name := plan.DefaultScenarios(), "embedded scenarios.yaml"
	if c.scenario != "default" {
		var err error
		if data, err = os.ReadFile(c.scenario); err != nil {
			return usageErr(fmt.Errorf("--scenario: %w", err))
		}
		name = c.scenario
	}
	scs, err := plan.ParseScenarios(data, name, n, cfg.Supply)
	if err != nil {
		return usageErr(err)
	}
	rs := plan.Compare(n, cfg, scs)
	var replays []scenarioReplay
	if c.replaySpan > 0 {
		if replays, err = replayScenarios(cmd.Context(), c, n, rs); err != nil {
			return err
		}
	}
	out := cmd.OutOrStdout()
	if c.json {
		if c.replaySpan > 0 {
			return printJSON(out, struct {
				Scenarios []plan.ScenarioResult `json:"scenarios"`
				Replays   []scenarioReplay      `json:"replays"`
			}{rs, replays})
		}
		return printJSON(out, rs)
	}
	if err := writeScenarios(out, rs); err != nil {
		return err
	}
	return writeScenarioReplays(out, c, replays)
}

// plannedSpec is the input spec with the plan's servers up to the chosen
// year added as pools.
func plannedSpec(c *planConfig, r *plan.Result, year int) ([]byte, error) {
	src := network.DefaultSpec()
	if c.net.network != "" && c.net.network != "default" {
		var err error
		if src, err = os.ReadFile(c.net.network); err != nil {
			return nil, err
		}
	}
	var s network.Spec
	if err := yaml.Unmarshal(src, &s); err != nil {
		return nil, err
	}
	type key struct{ site, model string }
	nodes := map[key]int{}
	for _, a := range r.Adds {
		if a.Year <= year {
			nodes[key{a.Site, a.Model}] += int(a.Nodes)
		}
	}
	for i := range s.Sites {
		var models []string
		for k := range nodes {
			if k.site == s.Sites[i].ID {
				models = append(models, k.model)
			}
		}
		sort.Strings(models)
		for _, m := range models {
			s.Sites[i].Pools = append(s.Sites[i].Pools, network.PoolSpec{Model: m, Nodes: nodes[key{s.Sites[i].ID, m}],
				Labels: map[string]string{"suanli.io/planned": strconv.Itoa(year)}})
		}
	}
	s.Name = fmt.Sprintf("%s, as planned for end-%d", s.Name, year)
	s.Illustrative = true
	s.Note = strings.TrimSpace(s.Note + fmt.Sprintf(" Pools labelled suanli.io/planned were added by `suanli plan --target %s --by %d` (objective %s).", c.target, c.by, r.Objective))
	b, err := yaml.Marshal(&s)
	if err != nil {
		return nil, err
	}
	return append([]byte("# Written by suanli plan: the input network plus the planned servers.\n"), b...), nil
}

func writePlan(w io.Writer, c *planConfig, n *network.Network, r *plan.Result) error {
	what := "capex + energy opex"
	unit := "M CNY"
	if r.Objective == plan.MinCarbon {
		what, unit = "CO2 of the added cards", "t CO2"
	}
	base := ledger.Capacity(n, nil)
	fmt.Fprintf(w, "Plan: %s FP16 by %d from %s EFLOPS at end-%d, minimising %s\n", c.target, c.by, ledger.EF(base.Total.GFLOPS), c.from, what)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "YEAR\tTARGET EF\tEF\tDOMESTIC\tMW\tCAPEX M CNY\tENERGY M CNY\tkt CO2\t")
	for _, y := range r.Years {
		fmt.Fprintf(tw, "%d\t%.2f\t%.2f\t%.1f%%\t%.1f\t%.0f\t%.0f\t%.0f\t\n", y.Year, y.TargetEF, y.EF, 100*y.DomesticShare, y.MW, y.CapexCNY/1e6, y.OpexCNY/1e6, y.KgCO2/1e6)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nServers added")
	fmt.Fprintln(tw, "YEAR\tSITE\tMODEL\tSERVERS\tCARDS\t")
	for _, a := range r.Adds {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t\n", a.Year, a.Site, a.Model, a.Nodes, a.Cards)
	}
	if len(r.Adds) == 0 {
		fmt.Fprintln(tw, "none: the network already meets the path\t\t\t\t\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nPower at full load against the envelope (MW), sites that grow")
	head := "SITE\t"
	for _, y := range r.Years {
		head += strconv.Itoa(y.Year) + "\t"
	}
	fmt.Fprintln(tw, head)
	grows := map[string]bool{}
	for _, s := range r.Sites {
		if s.AddedCards > 0 {
			grows[s.Site] = true
		}
	}
	rows := map[string][]string{}
	var order []string
	for _, s := range r.Sites {
		if !grows[s.Site] {
			continue
		}
		if _, ok := rows[s.Site]; !ok {
			order = append(order, s.Site)
		}
		rows[s.Site] = append(rows[s.Site], fmt.Sprintf("%.1f / %.0f", s.MW, s.EnvelopeMW))
	}
	for _, s := range order {
		fmt.Fprintln(tw, s+"\t"+strings.Join(rows[s], "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nBinding constraints: what relaxing each by one step saves (%s)\n", unit)
	for _, b := range r.Binding {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%.1f\t\n", b.Constraint, b.Year, b.Relax, b.Saves)
	}
	if len(r.Binding) == 0 {
		fmt.Fprintln(tw, "none\t\t\t\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	state := "proven optimal"
	if !r.Proven {
		state = "search stopped at the node limit or the gap tolerance"
	}
	fmt.Fprintf(w, "\nWhole servers: %.1f %s; best bound %.1f (LP %.1f); gap %.3f%% (%s)\n", r.Integer, unit, r.Bound, r.LPBound, r.GapPercent, state)
	if len(r.Closed) > 0 {
		fmt.Fprintf(w, "No power envelope, no new cards: %s\n", strings.Join(r.Closed, ", "))
	}
	for _, note := range r.Notes {
		fmt.Fprintln(w, "Note: "+note)
	}
	return nil
}

// writeScenarios prints the scenarios side by side, one column each.
func writeScenarios(w io.Writer, rs []plan.ScenarioResult) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head, s := "\t", "plan\t"
	for _, r := range rs {
		head += r.Name + "\t"
		if r.Error != "" {
			s += "none\t"
		} else {
			s += "ok\t"
		}
	}
	fmt.Fprintln(tw, head)
	fmt.Fprintln(tw, s)
	line := func(label string, f func(*plan.Result) string) {
		s := label + "\t"
		for _, r := range rs {
			if r.Result == nil {
				s += "-\t"
				continue
			}
			s += f(r.Result) + "\t"
		}
		fmt.Fprintln(tw, s)
	}
	scenarioYearLines(rs, line)
	scenarioTotalLines(line)
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rs {
		if r.Error != "" {
			fmt.Fprintf(w, "%s: no plan: %s\n", r.Name, r.Error)
		}
	}
	return nil
}

// scenarioYearLines adds the per-year lines of the scenario table: EF
// each year, then the last year's domestic share, MW and CO2.
func scenarioYearLines(rs []plan.ScenarioResult, line func(string, func(*plan.Result) string)) {
	var years []int
	for _, r := range rs {
		if r.Result != nil {
			for _, y := range r.Result.Years {
				years = append(years, y.Year)
			}
			break
		}
	}
	for k, y := range years {
		line(fmt.Sprintf("EF %d", y), func(r *plan.Result) string { return fmt.Sprintf("%.2f", r.Years[k].EF) })
	}
	last := len(years) - 1
	if last >= 0 {
		line("domestic share", func(r *plan.Result) string { return fmt.Sprintf("%.1f%%", 100*r.Years[last].DomesticShare) })
		line(fmt.Sprintf("MW %d", years[last]), func(r *plan.Result) string { return fmt.Sprintf("%.1f", r.Years[last].MW) })
		line(fmt.Sprintf("kt CO2 in %d", years[last]), func(r *plan.Result) string { return fmt.Sprintf("%.0f", r.Years[last].KgCO2/1e6) })
	}
}

// scenarioTotalLines adds the lines over the whole horizon: capex, energy,
// cards added, sites built, the constraint that binds most.
func scenarioTotalLines(line func(string, func(*plan.Result) string)) {
	line("capex M CNY", func(r *plan.Result) string {
		var c float64
		for _, y := range r.Years {
			c += y.CapexCNY
		}
		return fmt.Sprintf("%.0f", c/1e6)
	})
	line("energy M CNY", func(r *plan.Result) string {
		var c float64
		for _, y := range r.Years {
			c += y.OpexCNY
		}
		return fmt.Sprintf("%.0f", c/1e6)
	})
	line("cards added", func(r *plan.Result) string {
		var c int64
		for _, a := range r.Adds {
			c += a.Cards
		}
		return fmt.Sprintf("%d", c)
	})
	line("sites built", func(r *plan.Result) string {
		sites := map[string]bool{}
		for _, a := range r.Adds {
			sites[a.Site] = true
		}
		return fmt.Sprintf("%d", len(sites))
	})
	line("binds most", func(r *plan.Result) string {
		if len(r.Binding) == 0 {
			return "-"
		}
		return fmt.Sprintf("%s %d", r.Binding[0].Constraint, r.Binding[0].Year)
	})
}
