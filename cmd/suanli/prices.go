package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	v1 "github.com/suanli/suanli/api/v1"
)

func init() { register(newPricesCmd) }

func newPricesCmd() *cobra.Command {
	cmd := clientCmd("prices", "The price table usage and bills are priced from (staff)", cobra.NoArgs,
		func(ctx context.Context, c *v1.Client, cc *clientConfig, out io.Writer, _ []string) error {
			pl, err := c.Prices(ctx)
			if err != nil {
				return err
			}
			if cc.json {
				return printJSON(out, pl)
			}
			return writePrices(out, pl)
		}, nil)
	cmd.AddCommand(clientCmd("set FILE", "Replace the price table from a YAML {version, prices} (admin; version: the one in force)", cobra.ExactArgs(1),
		func(ctx context.Context, c *v1.Client, cc *clientConfig, out io.Writer, args []string) error {
			b, err := os.ReadFile(args[0])
			if err != nil {
				return usageErr(err)
			}
			var u v1.PriceUpdate
			if err := yaml.UnmarshalStrict(b, &u); err != nil {
				return usageErr(fmt.Errorf("%s: %w", args[0], err))
			}
			pl, err := c.ReplacePrices(ctx, u)
			if err != nil {
				return err
			}
			if cc.json {
				return printJSON(out, pl)
			}
			return writePrices(out, pl)
		}, nil))
	return cmd
}

func writePrices(out io.Writer, pl *v1.PriceList) error {
	fmt.Fprintf(out, "price table version %d (%s)", pl.Version, pl.Source)
	if pl.UpdatedAt != nil {
		fmt.Fprintf(out, ", set %s by %s", pl.UpdatedAt.Format("2006-01-02 15:04 MST"), pl.UpdatedBy)
	}
	fmt.Fprintln(out)
	tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "SITE\tMODEL\tCNY")
	for _, p := range pl.Prices {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", or(p.Site, "any"), or(p.Model, "any"), rate(p.FenPerCardHour, p.FenPerPFLOPHour))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(out, "leased sites the table does not price are billed at their lease price (network spec)")
	return nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
