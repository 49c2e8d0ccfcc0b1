package kubetest

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// TestFakeListsByLabelAndWatches: the fake filters lists by label
// selector, serves updates of the status, and its watches see objects
// created after they start, as client-go's fake clientset does (the
// kube package's unit tests rely on all three).
func TestFakeListsByLabelAndWatches(t *testing.T) {
	ctx := context.Background()
	pod := func(name, job string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "jobs", Labels: map[string]string{"job": job}}}
	}
	c := NewFake(pod("a", "j1"))
	pods := c.CoreV1().Pods("jobs")
	w, err := pods.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, err := pods.Create(ctx, pod("b", "j2"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for seen := false; !seen; {
		select {
		case ev := <-w.ResultChan():
			p, ok := ev.Object.(*corev1.Pod)
			if ev.Type != watch.Added || !ok {
				t.Fatalf("watch event %s %T, want pods added", ev.Type, ev.Object)
			}
			seen = p.Name == "b"
		case <-time.After(5 * time.Second):
			t.Fatal("the watch saw no creation")
		}
	}
	list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: "job=j1"})
	if err != nil || len(list.Items) != 1 || list.Items[0].Name != "a" {
		t.Fatalf("list job=j1: %v %+v", err, list)
	}
	a, _ := pods.Get(ctx, "a", metav1.GetOptions{})
	a.Status.Phase = corev1.PodSucceeded
	if _, err := pods.UpdateStatus(ctx, a, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := pods.Get(ctx, "a", metav1.GetOptions{}); got.Status.Phase != corev1.PodSucceeded {
		t.Errorf("phase after UpdateStatus = %q", got.Status.Phase)
	}
	if !c.IsWatchListSemanticsUnSupported() {
		t.Error("the fake claims to stream lists")
	}
	if other, _ := c.CoreV1().Pods("other").List(ctx, metav1.ListOptions{}); len(other.Items) != 0 {
		t.Errorf("namespace other lists %d pods", len(other.Items))
	}
}
