package device

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"
)

// Discoverer finds the accelerators of the node it runs on.
type Discoverer interface {
	Discover(ctx context.Context) (Report, error)
}

// Runner runs a command and returns its standard output.
type Runner interface {
	Run(ctx context.Context, name string, args ...string) ([]byte, error)
}

// ExecRunner runs commands with os/exec, each bounded by Timeout.
type ExecRunner struct {
	// Timeout bounds one command; zero means 30 seconds.
	Timeout time.Duration
}

// Run implements Runner. The error of a failed command carries the first
// line of its standard error.
func (r ExecRunner) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	t := r.Timeout
	if t <= 0 {
		t = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, t)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if ctx.Err() == context.DeadlineExceeded {
		return out, fmt.Errorf("run %s: no answer within %s; is the driver hung?", name, t)
	}
	if err != nil {
		msg, _, _ := bytes.Cut(bytes.TrimSpace(stderr.Bytes()), []byte("\n"))
		if len(msg) > 0 {
			return out, fmt.Errorf("run %s: %w: %s", name, err, msg)
		}
		return out, fmt.Errorf("run %s: %w", name, err)
	}
	return out, nil
}

// Tool is one vendor management tool: the binary names it may have, the
// arguments for its device listing and its parser, and optionally the
// arguments and parser for its topology matrix.
type Tool struct {
	Names     []string // binary names, first found on PATH wins ("xpu_smi", "xpu-smi")
	Args      []string
	Parse     func([]byte) ([]Device, error)
	TopoArgs  []string
	ParseTopo func([]byte) (Topology, error)
	// Instead names a tool that, when present, makes this one redundant
	// (rocm-smi on a Hygon host that also has hy-smi).
	Instead string
}

// Tools is the default tool set, one entry per vendor tool.
var Tools = []Tool{
	{Names: []string{"npu-smi"}, Args: []string{"info"}, Parse: ParseNPUSMI,
		TopoArgs: []string{"info", "-t", "topo"}, ParseTopo: ParseNPUTopo},
	{Names: []string{"cnmon"}, Parse: ParseCNMON},
	{Names: []string{"mthreads-gmi"}, Parse: ParseMthreadsGMI},
	{Names: []string{"ixsmi"}, Parse: ParseIXSMI},
	{Names: []string{"mx-smi"}, Parse: ParseMXSMI,
		TopoArgs: []string{"topo", "-m"}, ParseTopo: ParseMXSMITopo},
	{Names: []string{"xpu_smi", "xpu-smi"}, Parse: ParseXPUSMI},
	{Names: []string{"hy-smi"}, Parse: ParseHYSMI},
	{Names: []string{"rocm-smi"}, Parse: ParseROCmSMI, Instead: "hy-smi"},
	{Names: []string{"nvidia-smi"}, Args: []string{"--query-gpu=" + NvidiaQuery, "--format=csv,noheader,nounits"},
		Parse: ParseNvidiaCSV, TopoArgs: []string{"topo", "-m"}, ParseTopo: ParseNvidiaTopo},
}

// ToolDiscoverer runs every tool of Tools found on PATH and merges their
// reports.
type ToolDiscoverer struct {
	Runner   Runner
	LookPath func(name string) (string, error) // exec.LookPath when nil
	Tools    []Tool                            // the package's Tools when nil
}

// Discover implements Discoverer. It returns what every working tool found;
// the error joins the failures of the others (a tool that fails to run, or
// output that does not parse), each naming its tool, so a node with one
// broken tool still reports the cards the others see. A topology that fails
// leaves those devices in domains of their own, with a warning.
func (t ToolDiscoverer) Discover(ctx context.Context) (Report, error) {
	look := t.LookPath
	if look == nil {
		look = exec.LookPath
	}
	tools := t.Tools
	if tools == nil {
		tools = Tools
	}
	found := map[string]string{} // tool name → path
	for _, tool := range tools {
		for _, n := range tool.Names {
			if p, err := look(n); err == nil {
				found[tool.Names[0]] = p
				break
			}
		}
	}
	var rep Report
	var errs []error
	for _, tool := range tools {
		path, ok := found[tool.Names[0]]
		if !ok || (tool.Instead != "" && found[tool.Instead] != "") {
			continue
		}
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		out, err := t.Runner.Run(ctx, path, tool.Args...)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		devs, err := tool.Parse(out)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rep.add(devs)
		if tool.ParseTopo == nil || len(devs) == 0 {
			continue
		}
		out, err = t.Runner.Run(ctx, path, tool.TopoArgs...)
		var top Topology
		if err == nil {
			top, err = tool.ParseTopo(out)
		}
		if err != nil {
			rep.Warnings = append(rep.Warnings, fmt.Sprintf("%s topology unavailable, each device counted as its own domain: %v", tool.Names[0], err))
			continue
		}
		rep.Topology.Domains = append(rep.Topology.Domains, top.Domains...)
	}
	rep.finish()
	return rep, errors.Join(errs...)
}
