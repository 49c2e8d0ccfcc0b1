package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/suanli/suanli/internal/catalog"
)

func init() { register(newCatalogCmd) }

func newCatalogCmd() *cobra.Command {
	var (
		net    netFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "catalog [MODEL]",
		Short: "List the accelerator catalog, or show one model with every figure's confidence and sources",
		Example: `  suanli catalog
  suanli catalog "Ascend 910B3"
  suanli catalog --catalog my-chips.yaml --json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cat, err := net.loadCatalog()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			models := cat.Models()
			if len(args) == 1 {
				m, ok := cat.Lookup(args[0])
				if !ok {
					return usageErr(fmt.Errorf("no model %q in the catalog (run `suanli catalog` for the list)", args[0]))
				}
				models = []*catalog.Model{m}
			}
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(models)
			}
			if len(args) == 1 {
				return writeModel(cmd, models[0])
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tVENDOR\tORIGIN\tFP16 TFLOPS\tBF16 TFLOPS\tINT8 TOPS\tMEM GB\tDOMAIN\tSTACK\tPYTORCH\tTOOL")
			for _, m := range models {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", m.ID, m.Vendor, m.Origin(),
					m.FP16, m.BF16, m.INT8, m.MemoryGB, m.DomainCards, short(m.Stack), short(m.PyTorch), short(m.DeviceCLI))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(out, "\n? = no figure; [low-high] = the range sources give. Confidence: vendor-spec, observed, derived, press, override, unverified.")
			return nil
		},
	}
	net.add(cmd)
	cmd.Flags().Lookup("network").Hidden = true
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func writeModel(cmd *cobra.Command, m *catalog.Model) error {
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	fig := func(k string, f catalog.Figure) {
		v := f.String()
		if f.Note != "" {
			v += " — " + f.Note
		}
		if len(f.Sources) > 0 {
			v += " [" + strings.Join(f.Sources, ", ") + "]"
		}
		row(k, v)
	}
	row("id", m.ID)
	row("model", m.Name)
	row("vendor", m.Vendor+" ("+m.Family+")")
	row("origin", m.Origin()+" ("+m.Country+")")
	row("role", m.Role)
	fig("FP16 TFLOPS", m.FP16)
	fig("BF16 TFLOPS", m.BF16)
	fig("INT8 TOPS", m.INT8)
	fig("memory GB", m.MemoryGB)
	fig("bandwidth GB/s", m.BandwidthGBps)
	fig("TDP W", m.TDPW)
	fig("price CNY", m.ListPriceCNY)
	row("interconnect", dash(m.Interconnect)+" "+m.Topology)
	fig("link GB/s", m.LinkGBps)
	row("cards per server", fmt.Sprint(m.CardsPerServer))
	row("high-bandwidth domain", fmt.Sprintf("%d cards", m.DomainCards))
	row("software stack", dash(m.Stack))
	row("PyTorch", dash(m.PyTorch))
	row("device tool", dash(m.DeviceCLI))
	row("Kubernetes resources", dash(strings.Join(m.K8sResources, ", ")))
	for _, id := range sortedKeys(m.Sources) {
		row("source "+id, m.Sources[id])
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// short keeps a stack's name without the data's commentary.
func short(s string) string {
	if i := strings.IndexAny(s, "(;"); i > 0 {
		s = s[:i]
	}
	return dash(strings.TrimSpace(s))
}
