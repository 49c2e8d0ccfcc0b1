package kube

import (
	"context"
	"fmt"

	"github.com/suanli/suanli/internal/model"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Accessors and actions that only the tests use; the bridge reads the same
// state through its events and removes pods with Prune.

// Status returns a snapshot of the bridge.
func (b *Bridge) Status() BridgeStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.status
}

// Track tells the site how many pods a dispatched job has, so that its state
// can be derived from them.
func (s *Site) Track(job model.JobID, workers int) { s.TrackPlacement(job, "", workers) }

// Reachable reports whether the API server answered the last probe; while it
// does not, the site's capacity is unknown, not free.
func (s *Site) Reachable() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reachable
}

// Inventory returns the last inventory seen.
func (s *Site) Inventory() Inventory {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inventory
}

// Cancel deletes a job's pods (and PodGroup) with the grace period; the
// pods' processes get SIGTERM, then SIGKILL when it runs out.
func (d *Dispatcher) Cancel(ctx context.Context, job model.JobID) error {
	sel := metav1.ListOptions{LabelSelector: LabelJob + "=" + labelValue(string(job))}
	pods, err := d.Client.Pods(d.Namespace).List(ctx, sel)
	if err != nil {
		return fmt.Errorf("cancel %s: %w", job, err)
	}
	grace := d.GraceSeconds
	for _, p := range pods.Items {
		if p.Annotations["suanli.io/job-id"] != string(job) {
			continue
		}
		err := d.Client.Pods(d.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("cancel %s: delete pod %s: %w", job, p.Name, err)
		}
	}
	svcs, err := d.Client.Services(d.Namespace).List(ctx, sel)
	if err != nil {
		return fmt.Errorf("cancel %s: list Services: %w", job, err)
	}
	for _, s := range svcs.Items {
		if s.Annotations["suanli.io/job-id"] != string(job) {
			continue
		}
		err := d.Client.Services(d.Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("cancel %s: delete Service %s: %w", job, s.Name, err)
		}
	}
	if d.Volcano && d.Dynamic != nil {
		groups, err := d.Dynamic.Resource(PodGroupGVR).Namespace(d.Namespace).List(ctx, sel)
		if err != nil {
			return fmt.Errorf("cancel %s: list PodGroups: %w", job, err)
		}
		for _, g := range groups.Items {
			err := d.Dynamic.Resource(PodGroupGVR).Namespace(d.Namespace).Delete(ctx, g.GetName(), metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("cancel %s: delete PodGroup: %w", job, err)
			}
		}
	}
	return nil
}
