package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/suanli/suanli/internal/model"
	"github.com/suanli/suanli/internal/network"
)

func init() { register(newNetworkCmd) }

// siteSummary is one site of `suanli network`.
type siteSummary struct {
	model.Site
	Nodes   int            `json:"nodes"`
	Cards   int            `json:"cards"`
	Domains int            `json:"domains"`
	Models  map[string]int `json:"cards_by_model"`
}

func summarize(n *network.Network) []siteSummary {
	idx := map[model.SiteID]*siteSummary{}
	out := make([]siteSummary, len(n.Sites))
	for i, s := range n.Sites {
		out[i] = siteSummary{Site: s, Models: map[string]int{}}
		idx[s.ID] = &out[i]
	}
	for _, node := range n.Nodes {
		s := idx[node.Site]
		s.Nodes++
		s.Cards += node.Cards
		s.Models[node.Model] += node.Cards
	}
	for _, d := range n.Domains {
		idx[d.Site].Domains++
	}
	return out
}

func newNetworkCmd() *cobra.Command {
	var (
		net    netFlags
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "network",
		Short: "Show the network model: sites, their domains, nodes and cards",
		Example: `  suanli network
  suanli network --network examples/network-2028.yaml --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			n, err := net.load()
			if err != nil {
				return err
			}
			sites := summarize(n)
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(map[string]any{"name": n.Name, "illustrative": n.Illustrative, "note": n.Note, "sites": sites})
			}
			fmt.Fprintf(out, "Network: %s\n", n.Name)
			if n.Illustrative {
				fmt.Fprintf(out, "An illustrative reconstruction: %s\n", n.Note)
			}
			fmt.Fprintf(out, "%d sites, %d domains, %d nodes, %d cards\n\n", len(n.Sites), len(n.Domains), len(n.Nodes), n.Cards())
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "SITE\tOPERATOR\tREGION\tCITY\tOWNERSHIP\tKIND\tPUE\tDOMAINS\tNODES\tCARDS\tMODELS")
			for _, s := range sites {
				var models []string
				for _, m := range sortedKeys(s.Models) {
					models = append(models, fmt.Sprintf("%s×%d", m, s.Models[m]))
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d.%02d\t%d\t%d\t%d\t%s\n", s.ID, s.Operator, s.Region, s.City,
					s.Ownership, s.Kind, s.PUEMilli/1000, s.PUEMilli%1000/10, s.Domains, s.Nodes, s.Cards, strings.Join(models, " "))
			}
			return tw.Flush()
		},
	}
	net.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
