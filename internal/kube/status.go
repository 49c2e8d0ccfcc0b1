package kube

import (
	"sort"
	"strconv"

	corev1 "k8s.io/api/core/v1"

	"github.com/suanli/suanli/internal/model"
)

// JobStatus is a job's state as its pods at a site show it.
type JobStatus struct {
	Job    model.JobID    `json:"job"`
	State  model.JobState `json:"state"`
	Reason string         `json:"reason,omitempty"`
	// Requeue is set when the job should go back to the queue (evicted or
	// its node lost), rather than fail.
	Requeue bool `json:"requeue,omitempty"`
	// Placement is the key of the placement whose pods were counted, for
	// placements tracked with Site.TrackPlacement.
	Placement string `json:"placement,omitempty"`
	// Worker is the rank of the pod that failed or was evicted.
	Worker int `json:"worker,omitempty"`
}

// evictionReasons are pod failure reasons that are not the job's fault.
var evictionReasons = map[string]bool{"Evicted": true, "Preempting": true, "NodeLost": true, "Terminated": true, "NodeShutdown": true, "UnexpectedAdmissionError": true}

// StatusOf derives a job's state from its pods (pure). workers is how many
// pods the placement has.
func StatusOf(job model.JobID, workers int, pods []corev1.Pod) JobStatus {
	st := JobStatus{Job: job, State: model.Placed}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	running, succeeded := 0, 0
	for _, p := range pods {
		switch p.Status.Phase {
		case corev1.PodFailed:
			w, _ := strconv.Atoi(p.Labels[LabelWorker])
			if evictionReasons[p.Status.Reason] || p.DeletionTimestamp != nil {
				return JobStatus{Job: job, State: model.Preempted, Requeue: true, Worker: w, Reason: "pod " + p.Name + " " + nonEmpty(p.Status.Reason, "stopped") + ": " + p.Status.Message}
			}
			return JobStatus{Job: job, State: model.Failed, Worker: w, Reason: "pod " + p.Name + " failed" + exitCode(&p)}
		case corev1.PodSucceeded:
			succeeded++
		case corev1.PodRunning:
			running++
		}
	}
	switch {
	case workers > 0 && succeeded == workers:
		st.State = model.Completed
	case workers > 0 && running+succeeded == workers && running > 0:
		st.State = model.Running
	}
	return st
}

func exitCode(p *corev1.Pod) string {
	for _, c := range p.Status.ContainerStatuses {
		if t := c.State.Terminated; t != nil {
			return " with exit code " + strconv.Itoa(int(t.ExitCode)) + nonEmpty(": "+t.Reason, "")
		}
	}
	return ""
}

func nonEmpty(s, def string) string {
	if s == "" || s == ": " {
		return def
	}
	return s
}
