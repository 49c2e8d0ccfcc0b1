// Command suanli is the control plane of a national, multi-vendor AI
// computing network: catalog, network model, capacity ledger, scheduler,
// server, agents, replay simulator — one binary with subcommands.
package main

import (
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// exitError carries a process exit status (2 for bad input).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageErr marks an error as the user's input being wrong: exit status 2.
func usageErr(err error) error { return &exitError{code: 2, err: err} }

// commands holds the constructors of every subcommand; each file registers
// its own in init so that subcommands stay independent.
var commands []func() *cobra.Command

func register(f func() *cobra.Command) { commands = append(commands, f) }

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "suanli",
		Short:         "Control plane of a national, multi-vendor AI computing network",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	var subs []*cobra.Command
	for _, f := range commands {
		subs = append(subs, f())
	}
	sort.Slice(subs, func(i, j int) bool { return subs[i].Name() < subs[j].Name() })
	root.AddCommand(subs...)
	return root
}

func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "suanli:", err)
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}

func init() {
	register(func() *cobra.Command {
		return &cobra.Command{
			Use:   "version",
			Short: "Print the version",
			Args:  cobra.NoArgs,
			Run: func(cmd *cobra.Command, _ []string) {
				fmt.Fprintln(cmd.OutOrStdout(), "suanli", version)
			},
		}
	})
}
