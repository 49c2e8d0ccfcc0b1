package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
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
	output    string // -o: json, yaml, wide or "" (a table)
}

func (c *clientConfig) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&c.Server, "server", "", "server URL (env SUANLI_SERVER; default http://127.0.0.1:7480)")
	f.StringVar(&c.Token, "token", "", "bearer token (env SUANLI_TOKEN)")
	f.StringVar(&c.TokenFile, "token-file", "", "file holding the bearer token")
	f.StringVar(&c.config, "config", "", "client config YAML with server, token or token_file (default ~/.config/suanli/client.yaml)")
	f.BoolVar(&c.json, "json", false, "print JSON (the same as -o json)")
	f.StringVarP(&c.output, "output", "o", "", "output format: json, yaml, or wide (a table with more columns); default: a table")
}

// format is the output format asked for: json, yaml, wide or "".
func (c *clientConfig) format() (string, error) {
	switch {
	case c.json && c.output != "" && c.output != "json":
		return "", usageErr(fmt.Errorf("--json and -o %s disagree; give one", c.output))
	case c.json:
		return "json", nil
	}
	switch c.output {
	case "", "json", "yaml", "wide":
		return c.output, nil
	}
	return "", usageErr(fmt.Errorf("-o %q: give json, yaml or wide", c.output))
}

// structured prints v as JSON or YAML when the format asks for one and
// reports whether it did.
func (c *clientConfig) structured(out io.Writer, v any) (bool, error) {
	if f, _ := c.format(); f == "json" || f == "yaml" {
		return true, c.print(out, v, nil)
	}
	return false, nil
}

// print writes v as the format asks: JSON, YAML, or the human table
// (wide: with more columns).
func (c *clientConfig) print(out io.Writer, v any, table func(wide bool) error) error {
	f, err := c.format()
	if err != nil {
		return err
	}
	switch f {
	case "json":
		return printJSON(out, v)
	case "yaml":
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = out.Write(b)
		return err
	}
	return table(f == "wide")
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
			if _, err := cc.format(); err != nil {
				return err
			}
			c, err := cc.resolve()
			if err != nil {
				return err
			}
			cc.json = cc.json || cc.output == "json"
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

func newUsageCmd() *cobra.Command {
	var tenant, month string
	return clientCmd("usage", "A tenant's metered use in a month: PFLOP-hours and card-hours by site and model", cobra.NoArgs,
		func(ctx context.Context, c *v1.Client, cc *clientConfig, out io.Writer, _ []string) error {
			if month != "" {
				if _, err := time.Parse("2006-01", month); err != nil {
					return usageErr(fmt.Errorf("--month %q: give YYYY-MM, e.g. %s", month, time.Now().UTC().Format("2006-01")))
				}
			}
			u, err := c.Usage(ctx, tenant, month)
			var e *v1.Error
			if errors.As(err, &e) && e.Status == http.StatusBadRequest && tenant == "" {
				return usageErr(errors.New("whose usage? give --tenant ID (an admin or operator token reads any tenant's; a tenant token reads its own without --tenant)"))
			}
			if err != nil {
				return err
			}
			if ok, err := cc.structured(out, u); ok {
				return err
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
			if ok, err := cc.structured(out, l); ok {
				return err
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

// writeExplanationBody prints an explanation's rejections (most first),
// best partial candidate and unblock hints.
func writeExplanationBody(out io.Writer, e *v1.Explanation) {
	reasons := make([]string, 0, len(e.Rejections))
	for r := range e.Rejections {
		reasons = append(reasons, r)
	}
	sort.Slice(reasons, func(i, j int) bool {
		a, b := e.Rejections[reasons[i]], e.Rejections[reasons[j]]
		return a > b || a == b && reasons[i] < reasons[j]
	})
	if len(reasons) > 0 {
		fmt.Fprintln(out, "candidates rejected:")
	}
	for _, r := range reasons {
		fmt.Fprintf(out, "  %6d  %s\n", e.Rejections[r], r)
	}
	if e.Best != "" {
		fmt.Fprintf(out, "best partial: %s\n", e.Best)
	}
	for _, u := range e.Unblock {
		fmt.Fprintf(out, "would unblock: %s\n", u)
	}
}

// scoreText is a score with its components.
func scoreText(s v1.Score) string {
	return fmt.Sprintf("score %d (frag %d, topology %d, heterogeneity %d, cost %d, place %d)%s", s.Total, s.Frag, s.Topology, s.Heterogeneity, s.Cost, s.Place, termsText(s.Terms))
}

// termsText names the terms of a place component with their values.
func termsText(t *v1.PlaceTerms) string {
	if t == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "; at %s: energy ", t.Site)
	switch {
	case t.EnergyMilliFen < 0:
		b.WriteString("of several models")
	case t.EnergyEstimated:
		fmt.Fprintf(&b, "~%.3f CNY/PFLOP-h (no power figure: estimated)", float64(t.EnergyMilliFen)/100_000)
	default:
		fmt.Fprintf(&b, "%.3f CNY/PFLOP-h", float64(t.EnergyMilliFen)/100_000)
	}
	fmt.Fprintf(&b, " −%d", t.EnergyPenalty)
	switch {
	case t.NoRoute:
		fmt.Fprintf(&b, ", data: no backbone route −%d", t.TransferPenalty)
	case t.TransferMs > 0:
		fmt.Fprintf(&b, ", data transfer %.1f s −%d", float64(t.TransferMs)/1000, t.TransferPenalty)
	}
	if t.UsersRTTMicros > 0 || t.LatencyPenalty > 0 {
		fmt.Fprintf(&b, ", users %.1f ms away −%d", float64(t.UsersRTTMicros)/1000, t.LatencyPenalty)
	}
	return b.String()
}
