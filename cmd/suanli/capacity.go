package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/suanli/suanli/internal/ledger"
)

type capacityConfig struct {
	net      netFlags
	json     bool
	csv      bool
	target   string // e.g. 100EF
	by       int    // target year
	fromYear int    // base year for the growth rate (default: this year)
	// client reaches a server for the live ledger (--server); its --json
	// is capacity's own.
	client clientConfig
}

func init() { register(newCapacityCmd) }

func newCapacityCmd() *cobra.Command {
	var c capacityConfig
	cmd := &cobra.Command{
		Use:   "capacity",
		Short: "FP16 capacity ledger of the network by operator, site, vendor, model, origin and ownership",
		Long: `Capacity rolls the network up in exact FP16 GFLOPS (shown as EFLOPS): by operator,
site, vendor, model, origin (domestic / foreign) and ownership (self-built / leased),
plus general-purpose CPU compute. Every total says how much rests on estimates
(press, derived, unverified or operator-supplied figures).`,
		Example: `  suanli capacity
  suanli capacity --network examples/network-2028.yaml --target 100EF --by 2028
  suanli capacity --json
  suanli capacity --server http://127.0.0.1:7480 --token-file data/admin.token`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runCapacity(cmd, &c) },
	}
	c.net.add(cmd)
	cmd.Flags().BoolVar(&c.json, "json", false, "print JSON")
	cmd.Flags().BoolVar(&c.csv, "csv", false, "print CSV")
	cmd.Flags().StringVar(&c.target, "target", "", "capacity target, e.g. 100EF")
	cmd.Flags().IntVar(&c.by, "by", 0, "year the target is due, e.g. 2028")
	cmd.Flags().IntVar(&c.fromYear, "from", 0, "base year for the growth rate (default: this year)")
	f := cmd.Flags()
	f.StringVar(&c.client.Server, "server", "", "read the live ledger (allocated and free) from this server instead of the spec (token as for the client commands)")
	f.StringVar(&c.client.Token, "token", "", "bearer token for --server (env SUANLI_TOKEN)")
	f.StringVar(&c.client.TokenFile, "token-file", "", "file holding the bearer token for --server")
	f.StringVar(&c.client.config, "config", "", "client config YAML with server, token or token_file")
	return cmd
}

func runCapacity(cmd *cobra.Command, c *capacityConfig) error {
	if c.json && c.csv {
		return usageErr(errors.New("choose one of --json and --csv"))
	}
	if c.by != 0 && c.target == "" {
		return usageErr(errors.New("--by needs --target"))
	}
	var r ledger.Report
	if c.client.Server != "" || c.client.config != "" {
		cl, err := c.client.resolve()
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), 60*time.Second)
		defer cancel()
		if err := cl.Get(ctx, "/v1/capacity", &r); err != nil {
			return clientErr(err)
		}
	} else {
		n, err := c.net.load()
		if err != nil {
			return err
		}
		r = ledger.Capacity(n, nil)
	}
	if c.target != "" {
		target, err := ledger.ParseFLOPS(c.target)
		if err != nil {
			return usageErr(fmt.Errorf("--target: %w", err))
		}
		from := c.fromYear
		if from == 0 {
			from = time.Now().Year()
		}
		r.Target = ledger.NewProgress(r.Total.GFLOPS, target, from, c.by)
	}
	out := cmd.OutOrStdout()
	switch {
	case c.json:
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case c.csv:
		return ledger.WriteCSV(out, &r)
	}
	return ledger.WriteTable(out, &r)
}
