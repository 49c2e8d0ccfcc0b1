package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/policy"
)

func init() {
	register(newComplianceCmd)
	register(newAdvisoryCmd)
	register(newPolicyCmd)
}

func newComplianceCmd() *cobra.Command {
	return clientCmd("compliance", "Compliance report: domestic share of installed and allocated FP16 capacity, jobs on capacity their policy no longer allows, advisories in force", cobra.NoArgs,
		func(ctx context.Context, c *v1.Client, cc *clientConfig, out io.Writer, _ []string) error {
			var r policy.Report
			if err := c.Compliance(ctx, &r); err != nil {
				return err
			}
			if ok, err := cc.structured(out, &r); ok {
				return err
			}
			_, err := io.WriteString(out, r.Text())
			return err
		}, nil)
}

func newAdvisoryCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "advisory", Short: "File, lift and list security advisories against chip models, vendors and firmware"}
	var a v1.Advisory
	cmd.AddCommand(clientCmd("file", "File an advisory: watch (record), drain (no new work) or evict (move affected running jobs, gangs whole)", cobra.NoArgs,
		func(ctx context.Context, c *v1.Client, cc *clientConfig, out io.Writer, _ []string) error {
			if a.Vendor == "" && len(a.Models) == 0 {
				return usageErr(errors.New("give --model, --vendor or both: an advisory must say which cards it covers"))
			}
			filed, err := c.FileAdvisory(ctx, a)
			if err != nil {
				return err
			}
			if ok, err := cc.structured(out, filed); ok {
				return err
			}
			fmt.Fprintf(out, "%s filed: %s %s on %s\n", filed.ID, filed.Action, filed.Severity, target(*filed))
			return nil
		}, func(cmd *cobra.Command) {
			f := cmd.Flags()
			f.StringVar(&a.ID, "id", "", "advisory id (default: one the server assigns, ADV-<date>-<hex>)")
			f.StringSliceVar(&a.Models, "model", nil, "chip model, by catalog id or name (repeat or comma-separate)")
			f.StringVar(&a.Vendor, "vendor", "", "vendor")
			f.StringVar(&a.Firmware, "firmware", "", `firmware version range, e.g. "<24.1.0"`)
			f.StringVar(&a.Driver, "driver", "", `driver version range, e.g. "<550"`)
			f.StringSliceVar(&a.Classes, "class", nil, "job classifications affected: public, internal, sensitive, critical-infrastructure (default: all)")
			f.StringVar(&a.Severity, "severity", "high", "low, medium, high or critical")
			f.StringVar(&a.Action, "action", "drain", "watch, drain or evict")
			f.StringVar(&a.Summary, "summary", "", "what the advisory is about")
		}))
	cmd.AddCommand(clientCmd("lift ID", "Lift an advisory: its capacity takes new work again", cobra.ExactArgs(1),
		func(ctx context.Context, c *v1.Client, cc *clientConfig, out io.Writer, args []string) error {
			l, err := c.LiftAdvisory(ctx, args[0])
			if err != nil {
				return err
			}
			if ok, err := cc.structured(out, l); ok {
				return err
			}
			fmt.Fprintf(out, "%s lifted\n", l.ID)
			return nil
		}, nil))
	var all bool
	cmd.AddCommand(clientCmd("list", "List advisories (in force; --all for lifted ones too)", cobra.NoArgs,
		func(ctx context.Context, c *v1.Client, cc *clientConfig, out io.Writer, _ []string) error {
			as, err := c.Advisories(ctx)
			if err != nil {
				return err
			}
			var shown []v1.Advisory
			for _, a := range as {
				if all || a.Lifted == nil {
					shown = append(shown, a)
				}
			}
			if shown == nil {
				shown = []v1.Advisory{}
			}
			if ok, err := cc.structured(out, shown); ok {
				return err
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tACTION\tSEVERITY\tCOVERS\tCLASSES\tFILED\tLIFTED\tSUMMARY")
			for _, a := range shown {
				lifted := "-"
				if a.Lifted != nil {
					lifted = a.Lifted.Format(time.RFC3339)
				}
				classes := "all"
				if len(a.Classes) > 0 {
					classes = strings.Join(a.Classes, ",")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.Action, a.Severity, target(a), classes, a.Filed.Format(time.RFC3339), lifted, a.Summary)
			}
			return tw.Flush()
		}, func(cmd *cobra.Command) { cmd.Flags().BoolVar(&all, "all", false, "include lifted advisories") }))
	return cmd
}

// target says which cards an advisory covers.
func target(a v1.Advisory) string {
	var parts []string
	if a.Vendor != "" {
		parts = append(parts, a.Vendor)
	}
	if len(a.Models) > 0 {
		parts = append(parts, strings.Join(a.Models, ","))
	}
	if a.Firmware != "" {
		parts = append(parts, "firmware "+a.Firmware)
	}
	if a.Driver != "" {
		parts = append(parts, "driver "+a.Driver)
	}
	return strings.Join(parts, " ")
}

func newPolicyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Read or replace the sovereignty and security policy"}
	cmd.AddCommand(clientCmd("get", "Print the policy in force (the document; --json for the record)", cobra.NoArgs,
		func(ctx context.Context, c *v1.Client, cc *clientConfig, out io.Writer, _ []string) error {
			p, err := c.Policy(ctx)
			if err != nil {
				return err
			}
			if ok, err := cc.structured(out, p); ok {
				return err
			}
			if p.Document == "" {
				fmt.Fprintln(out, "# no policy in force: everything is allowed")
				return nil
			}
			fmt.Fprintf(out, "# version %d, %d rule(s), by %s\n%s", p.Version, p.Rules, p.UpdatedBy, p.Document)
			if !strings.HasSuffix(p.Document, "\n") {
				fmt.Fprintln(out)
			}
			return nil
		}, nil))
	cmd.AddCommand(clientCmd("replace POLICY.yaml", "Put a policy document in force (- for stdin); one with errors is refused with every error listed", cobra.ExactArgs(1),
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
			p, err := c.ReplacePolicy(ctx, string(b))
			if err != nil {
				return err
			}
			if ok, err := cc.structured(out, p); ok {
				return err
			}
			fmt.Fprintf(out, "policy %s version %d in force: %d rule(s)\n", p.Name, p.Version, p.Rules)
			return nil
		}, nil))
	return cmd
}
