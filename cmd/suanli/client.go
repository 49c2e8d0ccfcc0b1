package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	v1 "github.com/suanli/suanli/api/v1"
)

// clientConfig is how the client subcommands reach a server. Flags beat
// the environment (SUANLI_SERVER, SUANLI_TOKEN), which beats the config
// file (--config, default ~/.config/suanli/client.yaml), which beats the
// defaults.
type clientConfig struct {
	Server string `json:"server"` // default http://127.0.0.1:7480
	Token  string `json:"token"`  // bearer token; or token_file
	// TokenFile is read when Token is empty (e.g. <data-dir>/admin.token).
	TokenFile string `json:"token_file"`
	config    string
	json      bool
}

func (c *clientConfig) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&c.Server, "server", "", "server URL (env SUANLI_SERVER; default http://127.0.0.1:7480)")
	f.StringVar(&c.Token, "token", "", "bearer token (env SUANLI_TOKEN)")
	f.StringVar(&c.TokenFile, "token-file", "", "file holding the bearer token")
	f.StringVar(&c.config, "config", "", "client config YAML with server, token or token_file (default ~/.config/suanli/client.yaml)")
	f.BoolVar(&c.json, "json", false, "print JSON")
}

// resolve applies env, file and defaults under the flags.
func (c *clientConfig) resolve() (*v1.Client, error) {
	var file clientConfig
	path := c.config
	if path == "" {
		if home, err := os.UserHomeDir(); err == nil {
			path = filepath.Join(home, ".config", "suanli", "client.yaml")
		}
	}
	if b, err := os.ReadFile(path); err == nil {
		if err := yaml.UnmarshalStrict(b, &file); err != nil {
			return nil, usageErr(fmt.Errorf("client config %s: %w", path, err))
		}
	} else if c.config != "" {
		return nil, usageErr(fmt.Errorf("client config: %w", err))
	}
	pick := func(vals ...string) string {
		for _, v := range vals {
			if v != "" {
				return v
			}
		}
		return ""
	}
	server := pick(c.Server, os.Getenv("SUANLI_SERVER"), file.Server, "http://127.0.0.1:7480")
	token := pick(c.Token, os.Getenv("SUANLI_TOKEN"))
	if token == "" {
		tf := pick(c.TokenFile, file.TokenFile)
		switch {
		case c.TokenFile == "" && file.Token != "":
			token = file.Token
		case tf != "":
			b, err := os.ReadFile(tf)
			if err != nil {
				return nil, usageErr(fmt.Errorf("token file: %w", err))
			}
			token = strings.TrimSpace(string(b))
		}
	}
	if token == "" {
		return nil, usageErr(errors.New("no token: give --token, SUANLI_TOKEN, --token-file or a config file (the first admin token is in <data-dir>/admin.token)"))
	}
	if !strings.Contains(server, "://") {
		server = "http://" + server
	}
	return v1.NewClient(server, token), nil
}

// clientErr turns a 4xx reply into a usage error (exit status 2).
func clientErr(err error) error {
	var e *v1.Error
	if errors.As(err, &e) && e.Status >= 400 && e.Status < 500 {
		return usageErr(err)
	}
	return err
}

func init() {
	register(newSubmitCmd)
	register(newJobsCmd)
	register(newJobCmd)
	register(newExplainCmd)
	register(newWorkloadCmd)
	register(newCancelCmd)
	register(newUsageCmd)
	register(newAuditCmd)
}

// clientCmd builds a client subcommand around run.
func clientCmd(use, short string, args cobra.PositionalArgs, run func(ctx context.Context, c *v1.Client, cc *clientConfig, out io.Writer, args []string) error, extra func(*cobra.Command)) *cobra.Command {
	var cc clientConfig
	cmd := &cobra.Command{Use: use, Short: short, Args: args,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cc.resolve()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 60*time.Second)
			defer cancel()
			return clientErr(run(ctx, c, &cc, cmd.OutOrStdout(), args))
		}}
	cc.add(cmd)
	if extra != nil {
		extra(cmd)
	}
	return cmd
}

func printJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// parseJobSpec reads a job spec from YAML or JSON; unknown fields are
// errors.
func parseJobSpec(b []byte) (v1.JobSpec, error) {
	var spec v1.JobSpec
	j, err := yaml.YAMLToJSON(b)
	if err != nil {
		return spec, err
	}
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		return spec, err
	}
	return spec, nil
}

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
	return clientCmd("submit JOB.yaml", "Submit a job (YAML or JSON spec; - for stdin)", cobra.ExactArgs(1),
		func(ctx context.Context, c *v1.Client, cc *clientConfig, out io.Writer, args []string) error {
			var b []byte
			var err error
			if args[0] == "-" {
				b, err = io.ReadAll(os.Stdin)
			} else {
				b, err = os.ReadFile(args[0])
			}
			if err != nil {
				return usageErr(err)
			}
			spec, err := parseJobSpec(b)
			if err != nil {
				return usageErr(fmt.Errorf("%s: %w", args[0], err))
			}
			if key == "" {
				key = "suanli-" + rand.Text()
			}
			j, err := submitOnce(ctx, c, spec, key)
			if err != nil {
				return err
			}
			if cc.json {
				return printJSON(out, j)
			}
			fmt.Fprintf(out, "%s %s\n", j.ID, j.State)
			return nil
		}, func(cmd *cobra.Command) {
			cmd.Flags().StringVar(&key, "idempotency-key", "", "the submit's Idempotency-Key (default: a fresh random one); a submit repeated with the same key and spec within 24 h returns the first job instead of making another")
		})
}

func newJobsCmd() *cobra.Command {
	var f v1.JobFilter
	return clientCmd("jobs", "List jobs", cobra.NoArgs,
		func(ctx context.Context, c *v1.Client, cc *clientConfig, out io.Writer, _ []string) error {
			l, err := c.Jobs(ctx, f)
			if err != nil {
				return err
			}
			if cc.json {
				return printJSON(out, l)
			}
			tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTENANT\tKIND\tSTATE\tWHERE\tREASON")
			for _, j := range l.Jobs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", j.ID, j.Spec.Tenant, j.Spec.Kind, j.State, where(j.Placement), j.Reason)
			}
			if l.Next != "" {
				fmt.Fprintf(tw, "(more: --after %s)\n", l.Next)
			}
			return tw.Flush()
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

func newJobCmd() *cobra.Command {
	return clientCmd("job ID", "Show one job", cobra.ExactArgs(1),
		func(ctx context.Context, c *v1.Client, _ *clientConfig, out io.Writer, args []string) error {
			j, err := c.Job(ctx, args[0])
			if err != nil {
				return err
			}
			return printJSON(out, j)
		}, nil)
}

func newExplainCmd() *cobra.Command {
	return clientCmd("explain ID", "Say why a job is where it is", cobra.ExactArgs(1),
		func(ctx context.Context, c *v1.Client, cc *clientConfig, out io.Writer, args []string) error {
			e, err := c.Explain(ctx, args[0])
			if err != nil {
				return err
			}
			if cc.json {
				return printJSON(out, e)
			}
			fmt.Fprintf(out, "%s: %s\n%s\n", e.Job, e.State, e.Summary)
			for r, n := range e.Rejections {
				fmt.Fprintf(out, "  %6d  %s\n", n, r)
			}
			if e.Best != "" {
				fmt.Fprintf(out, "best partial: %s\n", e.Best)
			}
			for _, u := range e.Unblock {
				fmt.Fprintf(out, "would unblock: %s\n", u)
			}
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
			if cc.json {
				return printJSON(out, j)
			}
			fmt.Fprintf(out, "%s %s\n", j.ID, j.State)
			return nil
		}, nil)
}

func newUsageCmd() *cobra.Command {
	var tenant, month string
	return clientCmd("usage", "A tenant's metered use in a month: PFLOP-hours and card-hours by site and model", cobra.NoArgs,
		func(ctx context.Context, c *v1.Client, cc *clientConfig, out io.Writer, _ []string) error {
			u, err := c.Usage(ctx, tenant, month)
			if err != nil {
				return err
			}
			if cc.json {
				return printJSON(out, u)
			}
			tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintf(out, "tenant %s, %s (UTC)\n", u.Tenant, u.Month)
			fmt.Fprintln(tw, "SITE\tMODEL\tOWNERSHIP\tCARD-H\tFP16 PFLOP-H\tkWh\tkg CO2\tPRICE\tCNY\t")
			var unmetered int64
			for _, l := range u.Lines {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", l.Site, l.Model, l.Ownership, milli(l.CardHoursMilli), milli(l.PFLOPHoursMilli),
					milli(l.KWhMilli), milli(l.KgCO2Milli), rate(l.FenPerCardHour, l.FenPerPFLOPHour), fen(l.CostFen))
				unmetered += l.UnmeteredCardHoursMilli
			}
			fmt.Fprintf(tw, "total\t\t\t%s\t%s\t%s\t%s\t\t%s\t\n", milli(u.CardHoursMilli), milli(u.PFLOPHoursMilli), milli(u.KWhMilli), milli(u.KgCO2Milli), fen(u.CostFen))
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(out, "energy at the facility (cards, host share, PUE); its electricity cost CNY %s\n", fen(u.EnergyFen))
			if unmetered > 0 {
				fmt.Fprintf(out, "%s card-hours ran on cards with no power figure: their energy is not counted\n", milli(unmetered))
			}
			return nil
		}, func(cmd *cobra.Command) {
			cmd.Flags().StringVar(&tenant, "tenant", "", "the tenant (a tenant token: its own)")
			cmd.Flags().StringVar(&month, "month", "", "YYYY-MM, UTC (default: this month)")
		})
}

// rate renders a price per card-hour or per PFLOP-hour.
func rate(perCard, perPFLOP int64) string {
	switch {
	case perPFLOP > 0:
		return fen(perPFLOP) + "/PFLOP-h"
	case perCard > 0:
		return fen(perCard) + "/card-h"
	}
	return "-"
}

func milli(v int64) string { return fmt.Sprintf("%d.%03d", v/1000, v%1000) }
func fen(v int64) string   { return fmt.Sprintf("%d.%02d", v/100, v%100) }

func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Read and verify the hash-chained audit log"}
	var keys []string
	cmd.AddCommand(clientCmd("verify", "Check the whole chain, and with --key its signatures; exit status 1 if any entry was edited or deleted", cobra.NoArgs,
		func(ctx context.Context, c *v1.Client, cc *clientConfig, out io.Writer, _ []string) error {
			v, err := c.VerifyAudit(ctx, keys...)
			if err != nil {
				return err
			}
			if cc.json {
				_ = printJSON(out, v)
			} else {
				for _, p := range v.Problems {
					fmt.Fprintln(out, p)
				}
			}
			if !v.OK {
				return fmt.Errorf("audit log: %d problem(s) in %d entries", len(v.Problems), v.Entries)
			}
			if !cc.json {
				if v.Signed {
					fmt.Fprintf(out, "audit log intact and signed by the given key: %d entries\n", v.Entries)
				} else {
					fmt.Fprintf(out, "audit log hash chain intact: %d entries (signatures not checked; pass --key with the public key the server logs at start)\n", v.Entries)
				}
			}
			return nil
		}, func(cmd *cobra.Command) {
			cmd.Flags().StringSliceVar(&keys, "key", nil, "base64 ed25519 public key the log must be signed with (as 'suanli serve' logs it); repeat for several")
		}))
	var after int64
	var limit int
	cmd.AddCommand(clientCmd("list", "List audit entries", cobra.NoArgs,
		func(ctx context.Context, c *v1.Client, cc *clientConfig, out io.Writer, _ []string) error {
			l, err := c.Audit(ctx, after, limit)
			if err != nil {
				return err
			}
			if cc.json {
				return printJSON(out, l)
			}
			for _, e := range l.Entries {
				fmt.Fprintf(out, "%d\t%s\t%s\t%s\t%s\t%s\n", e.Seq, e.Time.Format(time.RFC3339), e.Actor, e.Action, e.Target, e.Detail)
			}
			return nil
		}, func(cmd *cobra.Command) {
			cmd.Flags().Int64Var(&after, "after", 0, "list after this sequence number")
			cmd.Flags().IntVar(&limit, "limit", 100, "page size")
		}))
	return cmd
}

// scoreText is a score with its components.
func scoreText(s v1.Score) string {
	return fmt.Sprintf("score %d (frag %d, topology %d, heterogeneity %d, cost %d)", s.Total, s.Frag, s.Topology, s.Heterogeneity, s.Cost)
}
