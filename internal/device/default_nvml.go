//go:build nvml

package device

// Default is the discoverer `suanli agent` uses: Nvidia GPUs through NVML
// when the driver's library loads, nvidia-smi otherwise, and every other
// vendor's tool found on PATH.
func Default(r Runner) Discoverer {
	return WithNative{Native: NVML{}, Replaces: "nvidia-smi", Tools: ToolDiscoverer{Runner: r}}
}
