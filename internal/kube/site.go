package kube

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	corev1listers "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
)

// EventKind names what a Site reports.
type EventKind string

// Site events.
const (
	InventoryChanged EventKind = "inventory"   // Inventory holds the site's nodes now
	JobChanged       EventKind = "job"         // Status holds a job's new state
	NodeLost         EventKind = "node-lost"   // a node's Ready condition left True
	NodeReady        EventKind = "node-ready"  // a node is Ready again
	Unreachable      EventKind = "unreachable" // the API server does not answer: capacity unknown
	Reachable        EventKind = "reachable"   // it answers again
)

// Event is one thing a Site saw.
type Event struct {
	Kind      EventKind
	Site      model.SiteID
	Inventory *Inventory
	Status    *JobStatus
	Node      model.NodeID
	Err       string
}

// Site watches one Kubernetes cluster through informers and reports its
// inventory, its jobs' states, lost nodes and its own reachability.
type Site struct {
	ID         model.SiteID
	Client     Core
	Catalog    *catalog.Catalog
	Namespace  string
	ProbeEvery time.Duration // reachability probe period (default 5 s)
	Log        *slog.Logger

	mu        sync.Mutex // guards the fields below
	workers   map[model.JobID]int
	keys      map[model.JobID]string // placement key of tracked placements; "" counts every pod of the job
	last      map[model.JobID]JobStatus
	podList   func(labels.Selector) ([]*corev1.Pod, error) // the pod informer's lister, once Run started it
	notReady  map[model.NodeID]bool
	reachable bool
	inventory Inventory
}

// TrackPlacement is Track for one placement of a job: only the pods
// labelled with its key (LabelPlacement) count, so that pods of an earlier
// placement of a requeued job, still terminating, do not. Its JobStatus
// events carry the key.
func (s *Site) TrackPlacement(job model.JobID, key string, workers int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.workers == nil {
		s.workers, s.keys = map[model.JobID]int{}, map[model.JobID]string{}
	}
	s.workers[job], s.keys[job] = workers, key
}

// Forget stops tracking a job.
func (s *Site) Forget(job model.JobID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.workers, job)
	delete(s.keys, job)
	delete(s.last, job)
}

// JobStatus derives a tracked job's state from the pods the informer holds
// now; false before Run has started the informer or for untracked jobs.
func (s *Site) JobStatus(job model.JobID) (JobStatus, bool) {
	s.mu.Lock()
	list, workers, tracked := s.podList, s.workers[job], false
	if s.workers != nil {
		_, tracked = s.workers[job]
	}
	key := s.keys[job]
	s.mu.Unlock()
	if list == nil || !tracked {
		return JobStatus{}, false
	}
	pods, err := list(labels.SelectorFromSet(labels.Set{LabelJob: labelValue(string(job))}))
	if err != nil {
		return JobStatus{}, false
	}
	st := StatusOf(job, workers, podsOf(job, key, pods))
	st.Placement = key
	return st, true
}

// podsOf keeps the pods of job (by its full id) and, when key is set, of
// that placement.
func podsOf(job model.JobID, key string, pods []*corev1.Pod) []corev1.Pod {
	var mine []corev1.Pod
	for _, p := range pods {
		if model.JobID(p.Annotations["suanli.io/job-id"]) == job && (key == "" || p.Labels[LabelPlacement] == key) {
			mine = append(mine, *p)
		}
	}
	return mine
}

// Run watches the site until ctx ends, sending events to out.
func (s *Site) Run(ctx context.Context, out chan<- Event) error {
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	every := s.ProbeEvery
	if every <= 0 {
		every = 5 * time.Second
	}
	s.mu.Lock()
	s.last, s.notReady, s.reachable = map[model.JobID]JobStatus{}, map[model.NodeID]bool{}, true
	if s.workers == nil {
		s.workers, s.keys = map[model.JobID]int{}, map[model.JobID]string{}
	}
	s.mu.Unlock()
	send := func(e Event) {
		e.Site = s.ID
		select {
		case out <- e:
		case <-ctx.Done():
		}
	}
	nodeInf, nodeLister := nodeInformer(s.Client)
	podInf, podLister := podInformer(s.Client, s.Namespace)
	onNodes, err := s.handle(nodeInf, nodeLister, podInf, podLister, send)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.podList = func(sel labels.Selector) ([]*corev1.Pod, error) { return podLister.Pods(s.Namespace).List(sel) }
	s.mu.Unlock()
	var informers sync.WaitGroup
	defer informers.Wait()
	informers.Go(func() { nodeInf.RunWithContext(ctx) })
	informers.Go(func() { podInf.RunWithContext(ctx) })
	synced := make(chan struct{})
	go func() {
		defer close(synced)
		if cache.WaitForCacheSync(ctx.Done(), nodeInf.HasSynced) {
			onNodes(nil)
		}
	}()
	defer func() { <-synced }()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			err := s.Client.Probe(ctx)
			s.setReachable(err == nil, err, send)
		}
	}
}

// handle sets the informers' watch error and event handlers: watch
// errors mark the site unreachable, node changes report the inventory,
// pod changes the jobs' status. It returns the node handler, which
// reports the inventory once the first listing is in.
func (s *Site) handle(nodeInf cache.SharedIndexInformer, nodeLister corev1listers.NodeLister,
	podInf cache.SharedIndexInformer, podLister corev1listers.PodLister, send func(Event)) (func(any), error) {
	watchErr := func(_ *cache.Reflector, err error) {
		// An expired resource version or a watch the server closed is the
		// informer's routine: it lists again. Anything else is taken as
		// unreachable until the next probe answers.
		if errors.Is(err, context.Canceled) || errors.Is(err, io.EOF) || apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
			return
		}
		s.setReachable(false, err, send)
	}
	if err := nodeInf.SetWatchErrorHandler(watchErr); err != nil {
		return nil, err
	}
	if err := podInf.SetWatchErrorHandler(watchErr); err != nil {
		return nil, err
	}
	// The inventory is reported once the first listing is in whole: a
	// partial one would show the nodes not listed yet as absent.
	onNodes := func(any) {
		if nodeInf.HasSynced() {
			s.nodesChanged(nodeLister.List, send)
		}
	}
	if _, err := nodeInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onNodes, UpdateFunc: func(_, n any) { onNodes(n) }, DeleteFunc: onNodes,
	}); err != nil {
		return nil, err
	}
	onPod := func(obj any) {
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			if d, isTomb := obj.(cache.DeletedFinalStateUnknown); isTomb {
				pod, ok = d.Obj.(*corev1.Pod)
			}
		}
		if ok {
			s.podChanged(pod, podLister.Pods(s.Namespace).List, send)
		}
	}
	if _, err := podInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: onPod, UpdateFunc: func(_, n any) { onPod(n) }, DeleteFunc: onPod,
	}); err != nil {
		return nil, err
	}
	return onNodes, nil
}

func (s *Site) setReachable(ok bool, err error, send func(Event)) {
	s.mu.Lock()
	changed := s.reachable != ok
	s.reachable = ok
	s.mu.Unlock()
	if !changed {
		return
	}
	if ok {
		s.Log.Info("kubernetes site reachable again", "site", s.ID)
		send(Event{Kind: Reachable})
		return
	}
	s.Log.Warn("kubernetes site unreachable; its capacity is unknown", "site", s.ID, "err", err)
	send(Event{Kind: Unreachable, Err: err.Error()})
}

func (s *Site) nodesChanged(list func(labels.Selector) ([]*corev1.Node, error), send func(Event)) {
	nodes, err := list(labels.Everything())
	if err != nil {
		return
	}
	flat := make([]corev1.Node, len(nodes))
	for i, n := range nodes {
		flat[i] = *n
	}
	inv := BuildInventory(s.ID, s.Catalog, flat)
	now := map[model.NodeID]bool{}
	for _, id := range inv.NotReady {
		now[id] = true
	}
	s.mu.Lock()
	var lost, back []model.NodeID
	for id := range now {
		if !s.notReady[id] {
			lost = append(lost, id)
		}
	}
	for id := range s.notReady {
		if !now[id] {
			back = append(back, id)
		}
	}
	s.notReady = now
	s.inventory = inv
	s.mu.Unlock()
	send(Event{Kind: InventoryChanged, Inventory: &inv})
	for _, id := range lost {
		send(Event{Kind: NodeLost, Node: id})
	}
	for _, id := range back {
		send(Event{Kind: NodeReady, Node: id})
	}
}

func (s *Site) podChanged(pod *corev1.Pod, list func(labels.Selector) ([]*corev1.Pod, error), send func(Event)) {
	job := model.JobID(pod.Annotations["suanli.io/job-id"])
	if job == "" {
		return
	}
	sel := labels.SelectorFromSet(labels.Set{LabelJob: pod.Labels[LabelJob]})
	pods, err := list(sel)
	if err != nil {
		return
	}
	s.mu.Lock()
	workers, tracked := s.workers[job]
	key := s.keys[job]
	if key != "" && pod.Labels[LabelPlacement] != key {
		s.mu.Unlock()
		return // a pod of an earlier placement
	}
	mine := podsOf(job, key, pods)
	if !tracked {
		workers = len(mine)
	}
	st := StatusOf(job, workers, mine)
	st.Placement = key
	prev, seen := s.last[job]
	s.last[job] = st
	s.mu.Unlock()
	if !seen || prev != st {
		send(Event{Kind: JobChanged, Status: &st})
	}
}

// nodeInformer watches every node of the cluster.
func nodeInformer(core Core) (cache.SharedIndexInformer, corev1listers.NodeLister) {
	c := core.Nodes()
	lw := &cache.ListWatch{
		ListWithContextFunc:  func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return c.List(ctx, o) },
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) { return c.Watch(ctx, o) },
	}
	// As the generated informers do: a client that says it cannot stream
	// a list (the fake clientset) lists, then watches.
	inf := cache.NewSharedIndexInformer(cache.ToListWatcherWithWatchListSemantics(lw, core), &corev1.Node{}, 0, cache.Indexers{})
	return inf, corev1listers.NewNodeLister(inf.GetIndexer())
}

// podInformer watches the pods that carry the job label in one namespace.
func podInformer(core Core, ns string) (cache.SharedIndexInformer, corev1listers.PodLister) {
	c := core.Pods(ns)
	sel := func(o *metav1.ListOptions) metav1.ListOptions { o.LabelSelector = LabelJob; return *o }
	lw := &cache.ListWatch{
		ListWithContextFunc:  func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return c.List(ctx, sel(&o)) },
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) { return c.Watch(ctx, sel(&o)) },
	}
	inf := cache.NewSharedIndexInformer(cache.ToListWatcherWithWatchListSemantics(lw, core), &corev1.Pod{},
		0, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	return inf, corev1listers.NewPodLister(inf.GetIndexer())
}
