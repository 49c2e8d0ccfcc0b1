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
)

func init() { register(newTokenCmd) }

// tokenFlags are the lifetime and output flags of token create and rotate.
type tokenFlags struct {
	ttl      time.Duration // 0: the role's default (create) or the token's own (rotate)
	noExpiry bool
	out      string // write the secret to this file (0600) instead of printing it
}

func (f *tokenFlags) add(cmd *cobra.Command) {
	cmd.Flags().DurationVar(&f.ttl, "ttl", 0, "lifetime of the secret, e.g. 720h (default: tenant tokens 90 days or the server's --tenant-token-ttl, bootstrap tokens 24 h, others none; on rotate the token's own)")
	cmd.Flags().BoolVar(&f.noExpiry, "no-expiry", false, "the secret never expires")
	cmd.Flags().StringVar(&f.out, "out", "", "write the secret to this file (mode 0600) instead of printing it, e.g. <data-dir>/admin.token")
}

// seconds is the wire lifetime: 0 default, -1 none.
func (f *tokenFlags) seconds() (int64, error) {
	switch {
	case f.noExpiry && f.ttl != 0:
		return 0, usageErr(errors.New("--ttl and --no-expiry contradict each other; give one"))
	case f.noExpiry:
		return -1, nil
	case f.ttl < 0 || (f.ttl > 0 && f.ttl < time.Second):
		return 0, usageErr(fmt.Errorf("--ttl %s: give a lifetime of a second or more, e.g. 720h", f.ttl))
	}
	return int64(f.ttl / time.Second), nil
}

// emit prints a new secret, or writes it to --out.
func (f *tokenFlags) emit(out io.Writer, t *v1.Token, verb string) error {
	exp := "never"
	if t.ExpiresAt != nil {
		exp = t.ExpiresAt.Format(time.RFC3339)
	}
	if f.out != "" {
		if err := os.WriteFile(f.out, []byte(t.Secret+"\n"), 0o600); err != nil {
			return fmt.Errorf("token %s %s, but its secret could not be written (it is shown once; rotate again): %w", t.ID, verb, err)
		}
		fmt.Fprintf(out, "%s %s; secret written to %s; expires %s\n", t.ID, verb, f.out, exp)
		return nil
	}
	fmt.Fprintf(out, "%s %s; expires %s\nsecret (shown once): %s\n", t.ID, verb, exp, t.Secret)
	return nil
}

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Create, list, rotate and revoke bearer tokens (admin)"}
	cmd.AddCommand(newTokenCreateCmd(), newTokenListCmd(), newTokenRotateCmd(), newTokenRevokeCmd())
	return cmd
}

// newTokenCreateCmd is `suanli token create`.
func newTokenCreateCmd() *cobra.Command {
	var (
		req       v1.TokenRequest
		agent     bool
		bootstrap bool
		sites     []string
		cf        tokenFlags
	)
	return clientCmd("create", "Create a token: --role admin|operator|tenant --tenant T, --agent --node N (or --sites for a bridge), or --bootstrap for agents to join with", cobra.NoArgs,
		func(ctx context.Context, c *v1.Client, cc *clientConfig, out io.Writer, _ []string) error {
			switch {
			case agent && bootstrap:
				return usageErr(errors.New("--agent and --bootstrap contradict each other; give one"))
			case agent:
				req.Role = v1.RoleAgent
			case bootstrap:
				req.Role = v1.RoleBootstrap
			case req.Role == "":
				return usageErr(errors.New("no role: give --role admin|operator|tenant, --agent --node N or --bootstrap"))
			}
			req.Sites = sites
			ttl, err := cf.seconds()
			if err != nil {
				return err
			}
			req.TTLSeconds = ttl
			t, err := c.CreateToken(ctx, req)
			if err != nil {
				return err
			}
			if cc.json && cf.out == "" {
				return printJSON(out, t)
			}
			return cf.emit(out, t, "created")
		}, func(cmd *cobra.Command) {
			f := cmd.Flags()
			f.StringVar(&req.Role, "role", "", "admin, operator, tenant, agent or bootstrap")
			f.StringVar(&req.Tenant, "tenant", "", "the tenant of a tenant token")
			f.StringVar(&req.Name, "name", "", "a name to recognise the token by")
			f.BoolVar(&agent, "agent", false, "an agent token, bound to --node (or to --sites, for a bridge)")
			f.StringVar(&req.Node, "node", "", "the node an agent token acts for")
			f.StringSliceVar(&sites, "sites", nil, "sites whose nodes an agent token acts for, or where a bootstrap token may join nodes")
			f.BoolVar(&bootstrap, "bootstrap", false, "a bootstrap token: agents exchange it once per node for their node's own credential (agent --bootstrap-token-file)")
			cf.add(cmd)
		})
}

// newTokenListCmd is `suanli token list`.
func newTokenListCmd() *cobra.Command {
	return clientCmd("list", "List tokens: role, scope, expiry, rotation, last use (never secrets)", cobra.NoArgs,
		func(ctx context.Context, c *v1.Client, cc *clientConfig, out io.Writer, _ []string) error {
			ts, err := c.Tokens(ctx)
			if err != nil {
				return err
			}
			if cc.json {
				return printJSON(out, ts)
			}
			printTokens(out, ts, time.Now())
			return nil
		}, nil)
}

// newTokenRotateCmd is `suanli token rotate`.
func newTokenRotateCmd() *cobra.Command {
	var (
		overlap time.Duration
		rf      tokenFlags
	)
	return clientCmd("rotate ID", "Issue a new secret for a token; the old one keeps working for --overlap", cobra.ExactArgs(1),
		func(ctx context.Context, c *v1.Client, cc *clientConfig, out io.Writer, args []string) error {
			ttl, err := rf.seconds()
			if err != nil {
				return err
			}
			r := v1.TokenRotation{TTLSeconds: ttl, OverlapSeconds: int64(overlap / time.Second)}
			switch {
			case overlap < 0:
				return usageErr(fmt.Errorf("--overlap %s: give 0 (the old secret stops now) or more", overlap))
			case overlap < time.Second:
				r.OverlapSeconds = -1
			}
			t, err := c.RotateToken(ctx, args[0], r)
			if err != nil {
				return err
			}
			if cc.json && rf.out == "" {
				return printJSON(out, t)
			}
			if t.PreviousUntil != nil {
				fmt.Fprintf(out, "the previous secret works until %s\n", t.PreviousUntil.Format(time.RFC3339))
			} else {
				fmt.Fprintln(out, "the previous secret no longer works")
			}
			return rf.emit(out, t, "rotated")
		}, func(cmd *cobra.Command) {
			cmd.Flags().DurationVar(&overlap, "overlap", time.Hour, "how long the previous secret keeps working (0: it stops now)")
			rf.add(cmd)
		})
}

// newTokenRevokeCmd is `suanli token revoke`.
func newTokenRevokeCmd() *cobra.Command {
	return clientCmd("revoke ID", "Revoke a token (every secret of it, and the node certificate signed with it), or a node certificate by its id cert-<serial in hex>", cobra.ExactArgs(1),
		func(ctx context.Context, c *v1.Client, cc *clientConfig, out io.Writer, args []string) error {
			if err := c.RevokeToken(ctx, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(out, "%s revoked\n", args[0])
			return nil
		}, nil)
}

func printTokens(out io.Writer, ts []v1.Token, now time.Time) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tROLE\tSCOPE\tNAME\tCREATED\tEXPIRES\tROTATED\tPREVIOUS UNTIL\tLAST USED")
	day := func(t *time.Time) string {
		if t == nil {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04")
	}
	for _, t := range ts {
		scope := "-"
		switch {
		case t.Tenant != "":
			scope = "tenant " + t.Tenant
		case t.Node != "":
			scope = "node " + t.Node
		case len(t.Sites) > 0:
			scope = "sites " + strings.Join(t.Sites, ",")
		}
		exp := "never"
		if t.ExpiresAt != nil {
			exp = day(t.ExpiresAt)
			if !now.Before(*t.ExpiresAt) {
				exp += " (expired)"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Role, scope, t.Name, day(&t.CreatedAt), exp, day(t.RotatedAt), day(t.PreviousUntil), day(t.LastUsed))
	}
	tw.Flush()
}
