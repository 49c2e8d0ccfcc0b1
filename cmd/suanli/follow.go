package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	v1 "github.com/suanli/suanli/api/v1"
)

func init() {
	register(newWatchCmd)
	register(newLogsCmd)
}

// terminal reports whether a job state is final.
func terminal(state string) bool {
	return state == v1.StateCompleted || state == v1.StateFailed || state == v1.StateCancelled
}

// watchPoll is how often watch reads the job again while the event
// stream is down.
var watchPoll = 2 * time.Second

func newWatchCmd() *cobra.Command {
	var cc clientConfig
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "watch ID",
		Short: "Follow a job: print each change of its state and placement until it ends",
		Long: `Watch prints the job's state, then a line for each change (placed, running,
preempted and placed again, …) from the server's event stream, reading the job
again if the stream drops. It exits when the job ends: status 0 when it
completed, 1 when it failed or was cancelled. -o json prints each change as one
JSON line.`,
		Example: "  suanli watch j-0193a1b2c3d-1a2b3c4d\n  suanli watch j-0193a1b2c3d-1a2b3c4d --timeout 1h",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := cc.format(); err != nil {
				return err
			}
			c, err := cc.resolve()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			return clientErr(watchJob(ctx, c, &cc, cmd.OutOrStdout(), args[0]))
		},
	}
	cc.add(cmd)
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "give up after this long (0: wait until the job ends)")
	return cmd
}

// watchJob prints the job and each change to it until it ends.
func watchJob(ctx context.Context, c *v1.Client, cc *clientConfig, out io.Writer, id string) error {
	j, err := c.Job(ctx, id)
	if err != nil {
		return err
	}
	var last string
	show := func(j *v1.Job) error {
		line := watchLine(j)
		if line == last {
			return nil
		}
		last = line
		switch f, _ := cc.format(); f {
		case "json": // one line per change, for jq and scripts
			b, err := json.Marshal(j)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(out, "%s\n", b)
			return err
		case "yaml":
			fmt.Fprintln(out, "---")
			return cc.print(out, j, nil)
		}
		_, err := fmt.Fprintf(out, "%s  %s\n", time.Now().UTC().Format(time.TimeOnly), line)
		return err
	}
	if err := show(j); err != nil {
		return err
	}
	errEnded := errors.New("ended")
	for !terminal(j.State) {
		rev := j.Revision
		err := c.EventsFrom(ctx, rev, func(ev v1.Event) error {
			if ev.Job == nil || ev.Job.ID != id {
				return nil
			}
			j = ev.Job
			if err := show(j); err != nil {
				return err
			}
			if terminal(j.State) {
				return errEnded
			}
			return nil
		})
		if errors.Is(err, errEnded) {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("stopped watching %s (%s): %w", id, j.State, ctx.Err())
		}
		var e *v1.Error
		if errors.As(err, &e) && (e.Status == 401 || e.Status == 403 || e.Status == 404) {
			return err
		}
		// The stream dropped: read the job again after a pause.
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped watching %s (%s): %w", id, j.State, ctx.Err())
		case <-time.After(watchPoll):
		}
		if nj, err := c.Job(ctx, id); err == nil {
			j = nj
			if err := show(j); err != nil {
				return err
			}
		}
	}
	if j.State != v1.StateCompleted {
		msg := fmt.Sprintf("job %s %s", id, j.State)
		if j.Reason != "" {
			msg += ": " + j.Reason
		}
		return errors.New(msg)
	}
	return nil
}

// watchLine is a job's state in one line.
func watchLine(j *v1.Job) string {
	s := fmt.Sprintf("%s  %-9s  %s", j.ID, j.State, whereAll(j.Placement))
	if j.Checkpoint > 0 {
		s += fmt.Sprintf("  checkpoint %d", j.Checkpoint)
	}
	if j.Reason != "" {
		s += "  " + j.Reason
	}
	return s
}

func newLogsCmd() *cobra.Command {
	return clientCmd("logs ID", "Print the output tail the agent captured of a job's failed worker", cobra.ExactArgs(1),
		func(ctx context.Context, c *v1.Client, cc *clientConfig, out io.Writer, args []string) error {
			j, err := c.Job(ctx, args[0])
			if err != nil {
				return err
			}
			if ok, err := cc.structured(out, map[string]string{"job": j.ID, "state": j.State, "output_tail": j.OutputTail}); ok {
				return err
			}
			if j.OutputTail == "" {
				return fmt.Errorf("no output captured for %s (%s): agents keep the last %d bytes of each worker's output and the server records them when a worker fails; live output is on the node", j.ID, j.State, v1.MaxOutputTail)
			}
			_, err = io.WriteString(out, j.OutputTail)
			if err == nil && j.OutputTail[len(j.OutputTail)-1] != '\n' {
				_, err = io.WriteString(out, "\n")
			}
			return err
		}, nil)
}
