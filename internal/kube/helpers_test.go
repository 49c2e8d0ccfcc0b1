package kube

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"github.com/suanli/suanli/internal/kube/kubetest"
)

type schemaGVR = schema.GroupVersionResource

func unstructuredInt(obj map[string]any, fields ...string) (int64, bool, error) {
	return unstructured.NestedInt64(obj, fields...)
}

// clientsetCore adapts a test client (the fake one in unit tests) to
// Core; tests against a real API server use NewCore, as serve does.
type clientsetCore struct{ cs *kubetest.Client }

func (c clientsetCore) Pods(ns string) PodClient         { return c.cs.CoreV1().Pods(ns) }
func (c clientsetCore) Services(ns string) ServiceClient { return c.cs.CoreV1().Services(ns) }
func (c clientsetCore) Nodes() NodeClient                { return c.cs.CoreV1().Nodes() }

// IsWatchListSemanticsUnSupported passes on the fake's answer: it cannot
// stream a list, so informers list, then watch.
func (c clientsetCore) IsWatchListSemanticsUnSupported() bool {
	return c.cs.IsWatchListSemanticsUnSupported()
}

// Probe succeeds: the fake is always there.
func (c clientsetCore) Probe(context.Context) error { return nil }

// mustCore is NewCore for tests.
func mustCore(t testing.TB, cfg *rest.Config) Core {
	t.Helper()
	c, err := NewCore(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
