// Package kubetest finds the kube-apiserver and etcd binaries that
// scripts/kube-tools.sh builds, for the tests that run a real API server
// (Start), and gives them a core/v1 client (Client).
package kubetest

import (
	"os"
	"path/filepath"
	"testing"
)

// Assets is the directory of the binaries: $KUBEBUILDER_ASSETS, or the
// build cache of scripts/kube-tools.sh. Without them the test fails in CI
// (CI set) and skips elsewhere; the README's test command builds them.
func Assets(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir
	}
	home, _ := os.UserHomeDir()
	dir := filepath.Join(home, ".cache", "suanli", "kube-v1.37.2")
	if _, err := os.Stat(filepath.Join(dir, "kube-apiserver")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no kube-apiserver in %s: run scripts/kube-tools.sh (make test does)", dir)
		}
		t.Skipf("no kube-apiserver in %s: run scripts/kube-tools.sh to build it (make test does)", dir)
	}
	return dir
}
