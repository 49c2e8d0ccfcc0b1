package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	v1 "github.com/suanli/suanli/api/v1"
)

// submitAttempts is how many times submit sends its request when the
// server cannot be reached or answers 502, 503 or 504; the idempotency key
// makes the retries safe.
const submitAttempts = 4

// submitOnce submits spec with key, retrying on transport errors and
// unavailable servers with a growing pause.
func submitOnce(ctx context.Context, c *v1.Client, spec v1.JobSpec, key string) (*v1.Job, error) {
	pause := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		j, err := c.SubmitIdempotent(ctx, spec, key)
		var e *v1.Error
		retry := err != nil && (!errors.As(err, &e) || e.Status == http.StatusBadGateway || e.Status == http.StatusServiceUnavailable || e.Status == http.StatusGatewayTimeout)
		if !retry || attempt == submitAttempts || ctx.Err() != nil {
			return j, err
		}
		select {
		case <-ctx.Done():
			return j, err
		case <-time.After(pause):
		}
		pause *= 2
	}
}

func newSubmitCmd() *cobra.Command {
	var key string
	var dryRun, fields bool
	cmd := clientCmd("submit JOB.yaml", "Submit a job (YAML or JSON spec; - for stdin)", cobra.ExactArgs(1),
		func(ctx context.Context, c *v1.Client, cc *clientConfig, out io.Writer, args []string) error {
			spec, err := readJobSpec(args[0])
			if err != nil {
				return err
			}
			if dryRun {
				d, err := c.DryRun(ctx, spec)
				if err != nil {
					return err
				}
				if ok, err := cc.structured(out, d); ok {
					return err
				}
				return writeDryRun(out, d)
			}
			if key == "" {
				key = "suanli-" + rand.Text()
			}
			j, err := submitOnce(ctx, c, spec, key)
			if err != nil {
				return err
			}
			if ok, err := cc.structured(out, j); ok {
				return err
			}
			fmt.Fprintf(out, "%s %s\n", j.ID, j.State)
			return nil
		}, func(cmd *cobra.Command) {
			f := cmd.Flags()
			f.StringVar(&key, "idempotency-key", "", "the submit's Idempotency-Key (default: a fresh random one); a submit repeated with the same key and spec within 24 h returns the first job instead of making another")
			f.BoolVar(&dryRun, "dry-run", false, "say where the job would be placed now and why, without creating it")
			f.BoolVar(&fields, "explain-fields", false, "print every job spec field with its meaning and exit (no server needed)")
		})
	cmd.Long = `Submit a job. The spec is YAML or JSON; examples/jobs/ has one of each kind
(a supernode training gang, a FLOPS request, fractional inference, a mixed-vendor
gang, a batch task, a sovereign job). --explain-fields lists every field;
--dry-run asks the server where the job would go and why, creating nothing.`
	cmd.Example = `  suanli submit --explain-fields
  suanli submit examples/jobs/ascend-supernode-gang.yaml --dry-run
  suanli submit examples/jobs/ascend-supernode-gang.yaml`
	run := cmd.RunE
	cmd.Args = func(cmd *cobra.Command, args []string) error {
		if fields {
			return cobra.NoArgs(cmd, args)
		}
		return cobra.ExactArgs(1)(cmd, args)
	}
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if fields {
			return writeFields(cmd.OutOrStdout())
		}
		return run(cmd, args)
	}
	return cmd
}

// readJobSpec reads and parses a spec file (- for stdin).
func readJobSpec(path string) (v1.JobSpec, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return v1.JobSpec{}, usageErr(err)
	}
	spec, err := parseJobSpec(b)
	if err != nil {
		return spec, usageErr(fmt.Errorf("%s: %w", path, err))
	}
	return spec, nil
}

// writeDryRun prints a dry run: where, the score, and the explanation.
func writeDryRun(out io.Writer, d *v1.DryRun) error {
	if d.Placeable {
		fmt.Fprintf(out, "would be placed now (dry run, nothing created): %s\n", d.Explanation.Summary)
	} else {
		fmt.Fprintf(out, "would not be placed now (dry run, nothing created): %s\n", d.Explanation.Summary)
	}
	if p := d.Placement; p != nil {
		if err := writeAssignments(out, "", p.Assignments); err != nil {
			return err
		}
		fmt.Fprintf(out, "FP16 held: %s PFLOPS\n", milli(p.GFLOPS/1000))
	}
	if s := d.Score; s != nil {
		fmt.Fprintf(out, "score %d = fragmentation %d, topology %d, heterogeneity %d, cost %d, place %d (each 0..1000, weighted)%s\n", s.Total, s.Frag, s.Topology, s.Heterogeneity, s.Cost, s.Place, termsText(s.Terms))
	}
	writeExplanationBody(out, &d.Explanation)
	for _, a := range d.Alternatives {
		fmt.Fprintf(out, "runner-up: %s\n", a)
	}
	return nil
}

func newJobsCmd() *cobra.Command {
	var f v1.JobFilter
	return clientCmd("jobs", "List jobs", cobra.NoArgs,
		func(ctx context.Context, c *v1.Client, cc *clientConfig, out io.Writer, _ []string) error {
			l, err := c.Jobs(ctx, f)
			if err != nil {
				return err
			}
			return cc.print(out, l, func(wide bool) error {
				tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
				if wide {
					fmt.Fprintln(tw, "ID\tTENANT\tNAME\tKIND\tSHAPE\tPRIORITY\tSTATE\tSUBMITTED\tFP16 PFLOPS\tWHERE\tREASON")
				} else {
					fmt.Fprintln(tw, "ID\tTENANT\tKIND\tSTATE\tWHERE\tREASON")
				}
				for _, j := range l.Jobs {
					if wide {
						var pf string = "-"
						if j.Placement != nil {
							pf = milli(j.Placement.GFLOPS / 1000)
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", j.ID, j.Spec.Tenant, orDash(j.Spec.Name), j.Spec.Kind, shape(j.Spec), j.Spec.Priority, j.State,
							j.SubmittedAt.UTC().Format(time.RFC3339), pf, whereAll(j.Placement), j.Reason)
						continue
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", j.ID, j.Spec.Tenant, j.Spec.Kind, j.State, where(j.Placement), j.Reason)
				}
				if l.Next != "" {
					fmt.Fprintf(tw, "(more: --after %s)\n", l.Next)
				}
				return tw.Flush()
			})
		}, func(cmd *cobra.Command) {
			cmd.Flags().StringVar(&f.Tenant, "tenant", "", "only this tenant's jobs")
			cmd.Flags().StringVar(&f.State, "state", "", "only jobs in this state")
			cmd.Flags().StringVar(&f.After, "after", "", "list after this job id")
			cmd.Flags().IntVar(&f.Limit, "limit", 100, "page size")
		})
}

func where(p *v1.Placement) string {
	if p == nil || len(p.Assignments) == 0 {
		return "-"
	}
	a := p.Assignments[0]
	s := fmt.Sprintf("%s/%s%v", a.Site, a.Node, a.Cards)
	if len(p.Assignments) > 1 {
		s += fmt.Sprintf(" +%d", len(p.Assignments)-1)
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// shape is a job's request in short: workers × cards, a share, or FLOPS.
func shape(s v1.JobSpec) string {
	switch {
	case s.ComputeGFLOPS > 0:
		return fmt.Sprintf("%s PF/%d", milli(s.ComputeGFLOPS/1000), s.Workers)
	case s.ShareMilli > 0:
		return fmt.Sprintf("%d×%s", s.Workers, milli(int64(s.ShareMilli)))
	}
	return fmt.Sprintf("%d×%d", s.Workers, s.CardsPerWorker)
}

// whereAll names every node a placement holds, by site.
func whereAll(p *v1.Placement) string {
	if p == nil || len(p.Assignments) == 0 {
		return "-"
	}
	var sites []string
	count := map[string]int{}
	for _, a := range p.Assignments {
		if count[a.Site] == 0 {
			sites = append(sites, a.Site)
		}
		count[a.Site]++
	}
	var parts []string
	for _, st := range sites {
		parts = append(parts, fmt.Sprintf("%s:%d", st, count[st]))
	}
	return strings.Join(parts, ",") + " (" + p.Assignments[0].Model + ")"
}

// writeAssignments prints a placement's workers; a mixed-model gang's
// with each worker's share of the step (what SUANLI_WORK_SHARE tells it).
func writeAssignments(out io.Writer, indent string, as []v1.Assignment) error {
	shares := false
	for _, a := range as {
		shares = shares || a.WorkShareMilli > 0
	}
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	head := indent + "WORKER\tSITE\tNODE\tMODEL\tCARDS"
	if shares {
		head += "\tWORK SHARE"
	}
	fmt.Fprintln(tw, head)
	for _, a := range as {
		cards := fmt.Sprint(a.Cards)
		if a.ShareMilli > 0 {
			cards += " share " + milli(int64(a.ShareMilli))
		}
		line := fmt.Sprintf("%s%d\t%s\t%s\t%s\t%s", indent, a.Worker, a.Site, a.Node, a.Model, cards)
		if shares {
			line += "\t" + milli(int64(a.WorkShareMilli))
		}
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}

// writeJob prints one job for a person.
func writeJob(out io.Writer, j *v1.Job) error {
	s := j.Spec
	fmt.Fprintf(out, "%s %s\n", j.ID, orDash(s.Name))
	fmt.Fprintf(out, "  tenant %s, %s %s, priority %d, state %s\n", s.Tenant, s.Kind, shape(s), s.Priority, j.State)
	if j.Reason != "" {
		fmt.Fprintf(out, "  reason: %s\n", j.Reason)
	}
	fmt.Fprintf(out, "  submitted %s", j.SubmittedAt.UTC().Format(time.RFC3339))
	if j.PlacedAt != nil {
		fmt.Fprintf(out, ", placed %s", j.PlacedAt.UTC().Format(time.RFC3339))
	}
	if j.EndedAt != nil {
		fmt.Fprintf(out, ", ended %s", j.EndedAt.UTC().Format(time.RFC3339))
	}
	fmt.Fprintln(out)
	if j.Checkpoint > 0 {
		fmt.Fprintf(out, "  checkpoint step %d\n", j.Checkpoint)
	}
	if p := j.Placement; p != nil {
		fmt.Fprintf(out, "  placement (FP16 %s PFLOPS):\n", milli(p.GFLOPS/1000))
		if err := writeAssignments(out, "    ", p.Assignments); err != nil {
			return err
		}
	}
	if len(j.Retries) > 0 {
		fmt.Fprintf(out, "  retries (%d of %d):\n", len(j.Retries), s.MaxRetries)
		for _, r := range j.Retries {
			fmt.Fprintf(out, "    %s  %s; placed again from %s\n", r.At.UTC().Format(time.RFC3339), r.Reason, r.NotBefore.UTC().Format(time.RFC3339))
		}
	}
	if j.OutputTail != "" {
		fmt.Fprintln(out, "  output tail captured: `suanli logs "+j.ID+"`")
	}
	return nil
}

func newJobCmd() *cobra.Command {
	return clientCmd("job ID", "Show one job (-o json or -o yaml: the whole record)", cobra.ExactArgs(1),
		func(ctx context.Context, c *v1.Client, cc *clientConfig, out io.Writer, args []string) error {
			j, err := c.Job(ctx, args[0])
			if err != nil {
				return err
			}
			return cc.print(out, j, func(bool) error { return writeJob(out, j) })
		}, nil)
}

func newExplainCmd() *cobra.Command {
	return clientCmd("explain ID", "Say why a job is where it is", cobra.ExactArgs(1),
		func(ctx context.Context, c *v1.Client, cc *clientConfig, out io.Writer, args []string) error {
			e, err := c.Explain(ctx, args[0])
			if err != nil {
				return err
			}
			if ok, err := cc.structured(out, e); ok {
				return err
			}
			fmt.Fprintf(out, "%s: %s\n%s\n", e.Job, e.State, e.Summary)
			writeExplanationBody(out, e)
			if e.Score != nil {
				fmt.Fprintf(out, "chosen:     %s\n", scoreText(*e.Score))
			}
			for _, a := range e.Alternatives {
				cards := fmt.Sprintf("%d cards", a.Cards)
				if a.Cards == 0 {
					cards = "a share"
				}
				fmt.Fprintf(out, "runner-up:  %s %s %s, %s: %s\n", a.Scope, a.Where, a.Model, cards, scoreText(a.Score))
			}
			return nil
		}, nil)
}

func newWorkloadCmd() *cobra.Command {
	return clientCmd("workload", "The task mix the scheduler measures fragmentation against, learned from the jobs submitted", cobra.NoArgs,
		func(ctx context.Context, c *v1.Client, cc *clientConfig, out io.Writer, _ []string) error {
			m, err := c.TaskMix(ctx)
			if err != nil {
				return err
			}
			if cc.json {
				return printJSON(out, m)
			}
			if m.Learned {
				fmt.Fprintf(out, "learned from %d workers (half-life %d workers)\n", m.Observed, m.HalfLifeWorkers)
			} else {
				fmt.Fprintln(out, "nothing learned yet: the prior")
			}
			tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "SHAPE\tCPU CORES\tMEM GIB\tMODELS\tPOPULARITY ‰\t")
			for _, t := range m.Typical {
				shape := fmt.Sprintf("%d cards", t.Cards)
				if t.Cards == 0 {
					shape = fmt.Sprintf("%d‰ of a card", t.ShareMilli)
				}
				models := strings.Join(t.Models, ",")
				if models == "" {
					models = "any"
				}
				fmt.Fprintf(tw, "%s\t%.1f\t%.0f\t%s\t%d\t\n", shape, float64(t.CPUMilli)/1000, float64(t.HostMemMiB)/1024, models, t.PopularityMilli)
			}
			return tw.Flush()
		}, nil)
}

func newCancelCmd() *cobra.Command {
	return clientCmd("cancel ID", "Cancel a job", cobra.ExactArgs(1),
		func(ctx context.Context, c *v1.Client, cc *clientConfig, out io.Writer, args []string) error {
			j, err := c.Cancel(ctx, args[0])
			if err != nil {
				return err
			}
			if ok, err := cc.structured(out, j); ok {
				return err
			}
			fmt.Fprintf(out, "%s %s\n", j.ID, j.State)
			return nil
		}, nil)
}
