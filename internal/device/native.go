package device

import (
	"context"
	"errors"
	"fmt"
)

// ErrNoLibrary is returned by a native discoverer whose vendor library (for
// NVML, the driver's libnvidia-ml.so) cannot be loaded on this host.
var ErrNoLibrary = errors.New("vendor library not loadable")

// WithNative reads one vendor's devices through its library and the others
// through their tools. When the library cannot be loaded it falls back to the
// whole tool set, the replaced tool included, and says so in a warning, so a
// binary built with the library still works on hosts without it.
type WithNative struct {
	Native   Discoverer
	Replaces string // the tool the native reader makes redundant, e.g. "nvidia-smi"
	Tools    ToolDiscoverer
}

// Discover implements Discoverer.
func (w WithNative) Discover(ctx context.Context) (Report, error) {
	nat, err := w.Native.Discover(ctx)
	if err != nil {
		rep, terr := w.Tools.Discover(ctx)
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("native discovery unavailable, using %s instead: %v", w.Replaces, err))
		if errors.Is(err, ErrNoLibrary) {
			return rep, terr
		}
		return rep, errors.Join(err, terr)
	}
	rest := w.Tools
	tools := rest.Tools
	if tools == nil {
		tools = Tools
	}
	rest.Tools = nil
	for _, t := range tools {
		if t.Names[0] != w.Replaces {
			rest.Tools = append(rest.Tools, t)
		}
	}
	rep, terr := rest.Discover(ctx)
	rep.add(nat.Devices)
	rep.Topology.Domains = append(rep.Topology.Domains, nat.Topology.Domains...)
	rep.Warnings = append(rep.Warnings, nat.Warnings...)
	rep.finish()
	return rep, terr
}
