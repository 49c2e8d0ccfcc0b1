package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/server"
)

func init() { register(newSecretCmd) }

func newSecretCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "secret", Short: "Keep secrets for a tenant's workloads (stored encrypted; values go only to the agents running its jobs)",
		Long: `A secret is a named set of values (API keys, passwords) that the server
keeps encrypted for one tenant. A job's workload references one key of it:

  workload:
    command: [python, train.py]
    secret_env:
      - name: HF_TOKEN
        secret: {name: hf, key: token}

The value reaches only the agent of a node the job is placed on, while it is
placed; job reads, events, the explanation, the audit log and the dashboard
show the reference, never the value. A tenant token manages its own
tenant's secrets; an admin token any tenant's.`}
	var files []string
	cmd.AddCommand(clientCmd("set TENANT NAME [KEY=VALUE]...", "Create or replace a secret; values from arguments, --from-file KEY=PATH, or KEY=- to read one from standard input", cobra.MinimumNArgs(2),
		func(ctx context.Context, c *v1.Client, cc *clientConfig, out io.Writer, args []string) error {
			data, err := secretData(args[2:], files, os.Stdin)
			if err != nil {
				return usageErr(err)
			}
			s, err := c.PutSecret(ctx, v1.Secret{Tenant: args[0], Name: args[1], Data: data})
			if err != nil {
				return err
			}
			if cc.json {
				return printJSON(out, s)
			}
			fmt.Fprintf(out, "secret %s/%s stored, keys: %s\n", s.Tenant, s.Name, strings.Join(s.Keys, ", "))
			return nil
		}, func(cmd *cobra.Command) {
			cmd.Flags().StringArrayVar(&files, "from-file", nil, "KEY=PATH: the key's value is the file's content (repeatable)")
		}))
	cmd.AddCommand(clientCmd("list TENANT", "List a tenant's secrets: names and keys, never values", cobra.ExactArgs(1),
		func(ctx context.Context, c *v1.Client, cc *clientConfig, out io.Writer, args []string) error {
			ss, err := c.Secrets(ctx, args[0])
			if err != nil {
				return err
			}
			if cc.json {
				return printJSON(out, ss)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tKEYS\tUPDATED")
			for _, s := range ss {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, strings.Join(s.Keys, ","), s.UpdatedAt.Format(time.RFC3339))
			}
			return tw.Flush()
		}, nil))
	cmd.AddCommand(clientCmd("delete TENANT NAME", "Delete a secret; jobs that reference it start without its variables", cobra.ExactArgs(2),
		func(ctx context.Context, c *v1.Client, cc *clientConfig, out io.Writer, args []string) error {
			if err := c.DeleteSecret(ctx, args[0], args[1]); err != nil {
				return err
			}
			fmt.Fprintf(out, "secret %s/%s deleted\n", args[0], args[1])
			return nil
		}, nil))
	return cmd
}

// secretData reads KEY=VALUE arguments (KEY=- reads stdin) and KEY=PATH
// files into a secret's data, reporting every bad one.
func secretData(args, files []string, stdin io.Reader) (map[string]string, error) {
	data := map[string]string{}
	var errs []error
	put := func(k, v string) {
		if _, dup := data[k]; dup {
			errs = append(errs, fmt.Errorf("key %s is given twice", k))
		}
		data[k] = v
	}
	usedStdin := false
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		switch {
		case !ok || k == "":
			errs = append(errs, fmt.Errorf("%q: give KEY=VALUE", a))
		case v == "-" && usedStdin:
			errs = append(errs, fmt.Errorf("%s=-: standard input is read for one key only", k))
		case v == "-":
			usedStdin = true
			b, err := io.ReadAll(io.LimitReader(stdin, 1<<20))
			if err != nil {
				errs = append(errs, fmt.Errorf("read %s from standard input: %w", k, err))
			}
			put(k, strings.TrimSuffix(string(b), "\n"))
		default:
			put(k, v)
		}
	}
	for _, f := range files {
		k, path, ok := strings.Cut(f, "=")
		if !ok || k == "" || path == "" {
			errs = append(errs, fmt.Errorf("--from-file %q: give KEY=PATH", f))
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("--from-file %s: %w", k, err))
			continue
		}
		put(k, string(b))
	}
	if len(data) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("no values: give KEY=VALUE arguments or --from-file KEY=PATH"))
	}
	return data, errors.Join(errs...)
}

// loadSecretKey reads the key that seals secrets: 64 hex digits (or 32
// raw bytes) in path. When create is set and the file does not exist, a
// fresh key is written there with mode 0600 (the embedded store's first
// start); otherwise a missing file means no key.
func loadSecretKey(path string, create bool) ([]byte, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		var key [server.SecretKeyBytes]byte
		if _, err := rand.Read(key[:]); err != nil {
			return nil, false, fmt.Errorf("secret key: %w", err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, false, fmt.Errorf("secret key: %w", err)
		}
		if err := os.WriteFile(path, []byte(hex.EncodeToString(key[:])+"\n"), 0o600); err != nil {
			return nil, false, fmt.Errorf("secret key: %w", err)
		}
		return key[:], true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("secret key: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, false, fmt.Errorf("secret key %s: mode %v lets others read it; chmod 600 it", path, fi.Mode().Perm())
	}
	if len(b) == server.SecretKeyBytes {
		return b, false, nil
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != server.SecretKeyBytes {
		return nil, false, fmt.Errorf("secret key %s: want %d hex digits (e.g. openssl rand -hex %d)", path, 2*server.SecretKeyBytes, server.SecretKeyBytes)
	}
	return key, false, nil
}
