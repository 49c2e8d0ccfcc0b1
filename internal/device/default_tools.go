//go:build !nvml

package device

// Default is the discoverer `suanli agent` uses: every vendor tool found on
// PATH. Builds with the nvml tag read Nvidia GPUs through NVML instead.
func Default(r Runner) Discoverer {
	return ToolDiscoverer{Runner: r}
}
