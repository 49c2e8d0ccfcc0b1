//go:build nvml

package device

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
)

// TestNVMLWithoutDriver runs the real NVML binding on a host without the
// Nvidia driver (CI's): the library does not load, Discover says so with
// ErrNoLibrary, and the default discoverer falls back to nvidia-smi.
func TestNVMLWithoutDriver(t *testing.T) {
	if _, err := os.Stat("/dev/nvidiactl"); err == nil {
		t.Skip("this host has an Nvidia driver; the fallback is for hosts without one")
	}
	_, err := NVML{}.Discover(context.Background())
	if !errors.Is(err, ErrNoLibrary) {
		t.Fatalf("NVML without a driver: %v, want ErrNoLibrary", err)
	}
	w := Default(nvidiaRunner(t)).(WithNative)
	w.Tools.LookPath = fakePath("nvidia-smi")
	rep, err := w.Discover(context.Background())
	if err != nil || len(rep.Devices) == 0 || rep.Devices[0].Tool != "nvidia-smi" {
		t.Fatalf("fallback: %d devices, %v", len(rep.Devices), err)
	}
	if !strings.Contains(strings.Join(rep.Warnings, "\n"), "using nvidia-smi instead") {
		t.Errorf("warnings %q", rep.Warnings)
	}
}
