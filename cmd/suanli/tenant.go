package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/ledger"
)

func init() { register(newTenantCmd) }

// tenantFlags are the settable parts of a tenant.
type tenantFlags struct {
	name, class, quota string
	weight             int
	vendorCaps         []string // vendor=cards
}

func (t *tenantFlags) add(cmd *cobra.Command, create bool) {
	f := cmd.Flags()
	if create {
		f.StringVar(&t.class, "class", "", "government, state-owned, private or foreign (the sovereignty policy reads it)")
		f.StringVar(&t.name, "name", "", "display name")
	}
	f.StringVar(&t.quota, "quota", "", "most FP16 throughput the tenant may hold at once, e.g. 2PF or 500TF; 0 or none: no quota")
	f.IntVar(&t.weight, "weight", 0, "fair-share weight, 1 to 1000 (default 1)")
	f.StringSliceVar(&t.vendorCaps, "vendor-cap", nil, "most cards of one vendor, vendor=cards (repeatable; vendor=none removes the cap)")
}

// apply sets the flags given on cmd onto t.
func (t *tenantFlags) apply(cmd *cobra.Command, ten *v1.Tenant) error {
	f := cmd.Flags()
	if f.Changed("quota") {
		switch strings.ToLower(strings.TrimSpace(t.quota)) {
		case "0", "none":
			ten.QuotaGFLOPS = 0
		default:
			g, err := ledger.ParseFLOPS(t.quota)
			if err != nil {
				return usageErr(fmt.Errorf("--quota: %w", err))
			}
			ten.QuotaGFLOPS = g
		}
	}
	if f.Changed("weight") {
		ten.Weight = t.weight
	}
	for _, vc := range t.vendorCaps {
		vendor, n, ok := strings.Cut(vc, "=")
		if !ok || vendor == "" {
			return usageErr(fmt.Errorf("--vendor-cap %q: give vendor=cards, e.g. nvidia=64", vc))
		}
		if ten.VendorCaps == nil {
			ten.VendorCaps = map[string]int{}
		}
		if n == "none" {
			delete(ten.VendorCaps, vendor)
			continue
		}
		cards, err := strconv.Atoi(n)
		if err != nil || cards < 0 {
			return usageErr(fmt.Errorf("--vendor-cap %q: the cards must be a whole number", vc))
		}
		ten.VendorCaps[vendor] = cards
	}
	if f.Changed("class") {
		ten.Class = t.class
	}
	if f.Changed("name") {
		ten.Name = t.name
	}
	return nil
}

func getTenant(ctx context.Context, c *v1.Client, id string) (*v1.Tenant, error) {
	var t v1.Tenant
	if err := c.Get(ctx, "/v1/tenants/"+url.PathEscape(id), &t); err != nil {
		return nil, err
	}
	return &t, nil
}

func isNotFound(err error) bool {
	var e *v1.Error
	return errors.As(err, &e) && e.Status == http.StatusNotFound
}

func newTenantCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "tenant", Short: "Register tenants, list them and set their quotas (operator or admin token)"}
	cmd.AddCommand(newTenantCreateCmd(), newTenantSetQuotaCmd(), newTenantListCmd())
	return cmd
}

// newTenantCreateCmd is `suanli tenant create`.
func newTenantCreateCmd() *cobra.Command {
	var cf tenantFlags
	var create *cobra.Command
	create = clientCmd("create ID", "Register a tenant (its class decides which sovereignty rules apply)", cobra.ExactArgs(1),
		func(ctx context.Context, c *v1.Client, cc *clientConfig, out io.Writer, args []string) error {
			if cf.class == "" {
				return usageErr(errors.New("--class is required: government, state-owned, private or foreign"))
			}
			if _, err := getTenant(ctx, c, args[0]); err == nil {
				return usageErr(fmt.Errorf("tenant %q exists; change it with `suanli tenant set-quota %s`", args[0], args[0]))
			} else if !isNotFound(err) {
				return err
			}
			t := v1.Tenant{ID: args[0]}
			if err := cf.apply(create, &t); err != nil {
				return err
			}
			got, err := c.PutTenant(ctx, t)
			if err != nil {
				return err
			}
			if ok, err := cc.structured(out, got); ok {
				return err
			}
			fmt.Fprintf(out, "tenant %s created (%s, quota %s, weight %d)\n", got.ID, got.Class, quotaText(got.QuotaGFLOPS), got.Weight)
			return nil
		}, func(cmd *cobra.Command) { cf.add(cmd, true) })
	create.Example = "  suanli tenant create acme --class private --quota 2PF --vendor-cap nvidia=64"
	return create
}

// newTenantSetQuotaCmd is `suanli tenant set-quota`.
func newTenantSetQuotaCmd() *cobra.Command {
	var sf tenantFlags
	var set *cobra.Command
	set = clientCmd("set-quota ID", "Change a tenant's quota, weight or vendor caps (flags not given stay as they are)", cobra.ExactArgs(1),
		func(ctx context.Context, c *v1.Client, cc *clientConfig, out io.Writer, args []string) error {
			f := set.Flags()
			if !f.Changed("quota") && !f.Changed("weight") && !f.Changed("vendor-cap") {
				return usageErr(errors.New("nothing to change: give --quota, --weight or --vendor-cap"))
			}
			t, err := getTenant(ctx, c, args[0])
			if isNotFound(err) {
				return usageErr(fmt.Errorf("no tenant %q; register it with `suanli tenant create %s --class …`", args[0], args[0]))
			}
			if err != nil {
				return err
			}
			if err := sf.apply(set, t); err != nil {
				return err
			}
			got, err := c.PutTenant(ctx, *t)
			if err != nil {
				return err
			}
			if ok, err := cc.structured(out, got); ok {
				return err
			}
			fmt.Fprintf(out, "tenant %s: quota %s, weight %d%s\n", got.ID, quotaText(got.QuotaGFLOPS), got.Weight, capsText(got.VendorCaps, ", caps "))
			return nil
		}, func(cmd *cobra.Command) { sf.add(cmd, false) })
	set.Example = "  suanli tenant set-quota acme --quota 5PF\n  suanli tenant set-quota acme --quota none --vendor-cap nvidia=none"
	return set
}

// newTenantListCmd is `suanli tenant list`.
func newTenantListCmd() *cobra.Command {
	return clientCmd("list", "List tenants with their class, quota and weight", cobra.NoArgs,
		func(ctx context.Context, c *v1.Client, cc *clientConfig, out io.Writer, _ []string) error {
			ts, err := c.Tenants(ctx)
			if err != nil {
				return err
			}
			return cc.print(out, ts, func(wide bool) error {
				tw := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
				if wide {
					fmt.Fprintln(tw, "ID\tNAME\tCLASS\tQUOTA FP16\tWEIGHT\tVENDOR CAPS (cards)")
				} else {
					fmt.Fprintln(tw, "ID\tCLASS\tQUOTA FP16\tWEIGHT")
				}
				for _, t := range ts {
					if wide {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", t.ID, orDash(t.Name), t.Class, quotaText(t.QuotaGFLOPS), t.Weight, orDash(capsText(t.VendorCaps, "")))
					} else {
						fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", t.ID, t.Class, quotaText(t.QuotaGFLOPS), t.Weight)
					}
				}
				return tw.Flush()
			})
		}, nil)
}

// quotaText is a quota in PFLOPS, or "none".
func quotaText(gflops int64) string {
	if gflops == 0 {
		return "none"
	}
	return milli(gflops/1000) + " PFLOPS"
}

func capsText(caps map[string]int, prefix string) string {
	if len(caps) == 0 {
		return ""
	}
	var parts []string
	for v, n := range caps {
		parts = append(parts, fmt.Sprintf("%s=%d", v, n))
	}
	sort.Strings(parts)
	return prefix + strings.Join(parts, ",")
}
