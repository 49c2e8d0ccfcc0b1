package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"text/tabwriter"

	"github.com/spf13/cobra"

	v1 "github.com/suanli/suanli/api/v1"
)

func init() { register(newNodesCmd) }

func newNodesCmd() *cobra.Command {
	var site, state string
	var devices bool
	return clientCmd("nodes", "List the network's nodes with their allocation and agent state", cobra.NoArgs,
		func(ctx context.Context, c *v1.Client, cc *clientConfig, out io.Writer, _ []string) error {
			switch state {
			case "", v1.NodeUnregistered, v1.NodeReady, v1.NodeUnhealthy, v1.NodeLost:
			default:
				return usageErr(fmt.Errorf("--state %q: give unregistered, ready, unhealthy or lost", state))
			}
			q := url.Values{}
			if site != "" {
				q.Set("site", site)
			}
			if !devices {
				q.Set("devices", "false")
			}
			var all []v1.Node
			if err := c.Get(ctx, "/v1/nodes?"+q.Encode(), &all); err != nil {
				return err
			}
			ns := all[:0]
			for _, n := range all {
				if state == "" || n.State == state {
					ns = append(ns, n)
				}
			}
			return cc.print(out, ns, func(wide bool) error {
				tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
				if wide {
					fmt.Fprintln(tw, "NODE\tSITE\tDOMAIN\tMODEL\tCARDS\tALLOCATED\tSTATE\tAGENT\tADDRESS\tUNKNOWN DEVICES\tREASON")
				} else {
					fmt.Fprintln(tw, "NODE\tSITE\tMODEL\tCARDS\tALLOCATED\tSTATE")
				}
				for _, n := range ns {
					if wide {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%d\t%s\n", n.ID, n.Site, n.Domain, n.Model, n.Cards, milli(n.AllocatedMilli), n.State,
							orDash(n.Agent), orDash(n.Address), n.Unknown, orDash(n.Reason))
						continue
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", n.ID, n.Site, n.Model, n.Cards, milli(n.AllocatedMilli), n.State)
				}
				return tw.Flush()
			})
		}, func(cmd *cobra.Command) {
			f := cmd.Flags()
			f.StringVar(&site, "site", "", "only this site's nodes")
			f.StringVar(&state, "state", "", "only nodes in this state: unregistered, ready, unhealthy or lost")
			f.BoolVar(&devices, "devices", false, "with -o json or yaml: include each agent's device list")
		})
}
