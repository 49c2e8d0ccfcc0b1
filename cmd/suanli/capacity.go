package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/suanli/suanli/internal/ledger"
)

type capacityConfig struct {
	net      netFlags
	json     bool
	csv      bool
	output   string // -o: json, yaml, csv or ""
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
plus general-purpose CPU compute, with each operator's self-built and leased parts
beside the figures operators published. Every total says how much rests on
estimates (press, derived, unverified or operator-supplied figures).

With --server, --config or SUANLI_SERVER (as every client command) it reads the
live ledger, allocated and free, from the server; --network or --catalog reads
a spec instead.`,
		Example: `  suanli capacity
  suanli capacity --network examples/network-2028.yaml --target 100EF --by 2028
  suanli capacity --json
  suanli capacity --server http://127.0.0.1:7480 --token-file suanli-data/admin.token
  SUANLI_SERVER=http://127.0.0.1:7480 SUANLI_TOKEN=… suanli capacity`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runCapacity(cmd, &c) },
	}
	c.net.add(cmd)
	cmd.Flags().BoolVar(&c.json, "json", false, "print JSON (the same as -o json)")
	cmd.Flags().BoolVar(&c.csv, "csv", false, "print CSV (the same as -o csv)")
	cmd.Flags().StringVarP(&c.output, "output", "o", "", "output format: json, yaml or csv; default: a table")
	cmd.Flags().StringVar(&c.target, "target", "", "capacity target, e.g. 100EF")
	cmd.Flags().IntVar(&c.by, "by", 0, "year the target is due, e.g. 2028")
	cmd.Flags().IntVar(&c.fromYear, "from", 0, "base year for the growth rate (default: this year)")
	f := cmd.Flags()
	f.StringVar(&c.client.Server, "server", "", "read the live ledger (allocated and free) from this server instead of the spec (env SUANLI_SERVER; token as for the client commands)")
	f.StringVar(&c.client.Token, "token", "", "bearer token for --server (env SUANLI_TOKEN)")
	f.StringVar(&c.client.TokenFile, "token-file", "", "file holding the bearer token for --server")
	f.StringVar(&c.client.config, "config", "", "client config YAML with server, token or token_file")
	return cmd
}

func runCapacity(cmd *cobra.Command, c *capacityConfig) error {
	format := c.output
	for _, f := range []struct {
		set  bool
		name string
	}{{c.json, "json"}, {c.csv, "csv"}} {
		if f.set && format != "" && format != f.name {
			return usageErr(fmt.Errorf("choose one output format: --%s and -o %s disagree", f.name, format))
		}
		if f.set {
			format = f.name
		}
	}
	switch format {
	case "", "json", "yaml", "csv":
	default:
		return usageErr(fmt.Errorf("-o %q: give json, yaml or csv", format))
	}
	if c.by != 0 && c.target == "" {
		return usageErr(errors.New("--by needs --target"))
	}
	from := c.fromYear
	if from == 0 {
		from = time.Now().Year()
	}
	if c.by != 0 && c.by < from {
		return usageErr(fmt.Errorf("--by %d is before %d, the year the growth is counted from (--from, default this year); give a year from %d on", c.by, from, from))
	}
	if c.fromYear != 0 && (c.fromYear < 1950 || c.fromYear > 2200) {
		return usageErr(fmt.Errorf("--from %d: give a year such as %d", c.fromYear, time.Now().Year()))
	}
	fl := cmd.Flags()
	live := c.client.Server != "" || c.client.config != "" ||
		os.Getenv("SUANLI_SERVER") != "" && !fl.Changed("network") && !fl.Changed("catalog")
	var r ledger.Report
	if live {
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
		r.Target = ledger.NewProgress(r.Total.GFLOPS, target, from, c.by)
	}
	out := cmd.OutOrStdout()
	switch format {
	case "json":
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "yaml":
		b, err := yaml.Marshal(r)
		if err != nil {
			return err
		}
		_, err = out.Write(b)
		return err
	case "csv":
		return ledger.WriteCSV(out, &r)
	}
	return ledger.WriteTable(out, &r)
}
