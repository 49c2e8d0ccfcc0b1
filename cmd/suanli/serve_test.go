package main

import (
	"strings"
	"testing"
)

// TestServeRefusesInsecureSettings: plaintext etcd endpoints without
// --etcd-insecure, half a TLS pair, a client CA without TLS: each a usage
// error naming the flag to fix, before anything starts.
func TestServeRefusesInsecureSettings(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--etcd-endpoints", "http://127.0.0.1:1"}, "--etcd-insecure"},
		{[]string{"--etcd-endpoints", "127.0.0.1:1"}, "--etcd-insecure"},
		{[]string{"--etcd-endpoints", "https://127.0.0.1:1", "--etcd-certfile", "c.pem"}, "--etcd-keyfile"},
		{[]string{"--client-ca-file", "ca.pem"}, "--tls-cert"},
		{[]string{"--client-ca-key-file", "ca.key"}, "--client-ca-file"},
	} {
		args := append([]string{"serve", "--data-dir", dir, "--no-kube-bridges", "--listen", "127.0.0.1:0"}, tt.args...)
		out, err := run(t, args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("serve %v: %v, want an error naming %s\n%s", tt.args, err, tt.want, out)
		}
	}
}
