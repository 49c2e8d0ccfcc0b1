package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/dynamic"

	v1 "github.com/suanli/suanli/api/v1"
	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
)

// EnvImage in a job's workload environment names the container image of
// its pods at a Kubernetes site; without it the bridge's Image is used.
const EnvImage = "SUANLI_IMAGE"

// maxDevices is what one registration may carry (the API's bound).
const maxDevices = 1024

// BridgeConfig is what a Bridge needs. Defaults are on each field.
type BridgeConfig struct {
	// Site is the kubernetes site of the network (required).
	Site model.SiteID
	// Nodes are the network spec's nodes of the site (required): node
	// <site>-<name> is the Kubernetes node <name>.
	Nodes []model.Node
	// Kube reaches the site's API server (required); Dynamic too, for
	// Volcano PodGroups.
	Kube    Core
	Dynamic dynamic.Interface
	// Catalog names the accelerator models (required): the network's.
	Catalog *catalog.Catalog
	// Server is the Suanli server, with an agent-role token (required).
	Server *v1.Client
	// Namespace of the pods (default "default").
	Namespace string
	// Volcano gang-schedules each placement as a PodGroup.
	Volcano bool
	// Image runs jobs whose workload names no image (workload.image, or
	// SUANLI_IMAGE in its env); with none, the job fails with the reason.
	Image string
	// Endpoints are the network's sites' gang_endpoint: where a gang that
	// spans sites reaches its rank 0.
	Endpoints map[model.SiteID]model.GangEndpoint
	// GraceSeconds is the grace of pod deletions on cancel, preemption and
	// requeue (default 30).
	GraceSeconds int64
	// Lease is used until the server's registration reply says otherwise
	// (default v1.DefaultHeartbeatMillis, v1.DefaultMissedBeats).
	Lease v1.Lease
	// ProbeEvery is how often the API server's reachability is probed
	// (default 5 s).
	ProbeEvery time.Duration
	// Version is reported at registration.
	Version string
	// Log: nil discards.
	Log *slog.Logger
}

// BridgeStatus is a snapshot of a bridge, for tests and logs.
type BridgeStatus struct {
	Reachable  bool  // the API server answers: heartbeats flow
	Registered int   // nodes holding a lease
	Heartbeats int64 // acknowledged heartbeats
	Dispatched int64 // placements whose pods were created
	Pruned     int64 // pods deleted because their placement ended or moved
	Reports    int64 // worker reports the server accepted
	Tracked    int   // placements followed now
}

// Bridge stands in for the node agents of one Kubernetes site. It
// registers every node the network spec gives the site, with devices
// derived from the cluster's inventory (a node that is NotReady, absent or
// without a known accelerator resource has its cards in Error, so the
// server requeues its jobs at once), heartbeats them in one loop while the
// API server answers (when it does not, the heartbeats stop and the server
// loses the nodes: their capacity is unknown), turns each placement into
// pods with deterministic names, reports their state as worker reports,
// and deletes the pods of placements that ended or moved. One goroutine
// owns all of its state.
type Bridge struct {
	cfg  BridgeConfig
	log  *slog.Logger
	site *Site
	disp *Dispatcher

	// Owned by the Run goroutine.
	lease     v1.Lease
	inv       Inventory
	haveInv   bool
	invNodes  map[model.NodeID]model.Node
	notReady  map[model.NodeID]bool
	present   map[string]bool
	unknownBy map[string][]UnknownResource
	reachable bool
	nodes     map[model.NodeID]*bridgeNode
	order     []model.NodeID
	placed    map[model.JobID]*tracked
	pruned    string // the kept set of the last successful prune
	started   time.Time

	mu     sync.Mutex // guards status
	status BridgeStatus
}

// bridgeNode is one node of the site as the bridge registers it.
type bridgeNode struct {
	spec   model.Node
	k8s    string
	lease  string // "" while not registered
	sent   string // the devices the server holds, as JSON
	rev    int64  // assignment revision of the last listing
	listed bool   // jobs holds a listing newer than the last revision change
	jobs   []v1.AssignedJob
	regErr string // the last registration error, logged once
	// blind: registered before any inventory, its cards in Error because
	// the API server had not answered: registered again once it does.
	blind bool
}

// tracked is one placement whose pods the bridge created.
type tracked struct {
	key        string
	placedAt   *time.Time
	assign     []model.Assignment // this site's workers
	dispatched bool
	reported   model.JobState // the last state the server accepted
	done       map[int]bool   // workers reported completed
	// stale: its pods' state may not have been reported (new, a report
	// failed, or events passed while the API server was unreachable):
	// the next tick reads it from the informer.
	stale bool
}

// NewBridge checks the configuration and returns a bridge.
func NewBridge(cfg BridgeConfig) (*Bridge, error) {
	var errs []error
	if cfg.Site == "" {
		errs = append(errs, errors.New("kube bridge: site: missing"))
	}
	if len(cfg.Nodes) == 0 {
		errs = append(errs, fmt.Errorf("kube bridge %s: nodes: none; give the site pools with the Kubernetes node names (names:)", cfg.Site))
	}
	if cfg.Kube == nil {
		errs = append(errs, fmt.Errorf("kube bridge %s: kube: missing; load the site's kubeconfig", cfg.Site))
	}
	if cfg.Catalog == nil {
		errs = append(errs, fmt.Errorf("kube bridge %s: catalog: missing", cfg.Site))
	}
	if cfg.Server == nil {
		errs = append(errs, fmt.Errorf("kube bridge %s: server: missing; give a client with an agent token", cfg.Site))
	}
	if cfg.Volcano && cfg.Dynamic == nil {
		errs = append(errs, fmt.Errorf("kube bridge %s: volcano needs a dynamic client", cfg.Site))
	}
	b := &Bridge{nodes: map[model.NodeID]*bridgeNode{}, placed: map[model.JobID]*tracked{}, reachable: true}
	for _, n := range cfg.Nodes {
		name, ok := strings.CutPrefix(string(n.ID), string(cfg.Site)+"-")
		if !ok || n.Site != cfg.Site {
			errs = append(errs, fmt.Errorf("kube bridge %s: node %s is not a node of the site", cfg.Site, n.ID))
			continue
		}
		b.nodes[n.ID] = &bridgeNode{spec: n, k8s: name}
		b.order = append(b.order, n.ID)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	slices.Sort(b.order)
	if cfg.Namespace == "" {
		cfg.Namespace = "default"
	}
	if cfg.GraceSeconds <= 0 {
		cfg.GraceSeconds = 30
	}
	if cfg.Lease.Period <= 0 {
		cfg.Lease.Period = v1.DefaultHeartbeatMillis * time.Millisecond
	}
	if cfg.Lease.Missed <= 0 {
		cfg.Lease.Missed = v1.DefaultMissedBeats
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	b.cfg, b.lease, b.log = cfg, cfg.Lease, cfg.Log.With("site", cfg.Site)
	b.site = &Site{ID: cfg.Site, Client: cfg.Kube, Catalog: cfg.Catalog, Namespace: cfg.Namespace, ProbeEvery: cfg.ProbeEvery, Log: b.log}
	b.disp = &Dispatcher{Site: cfg.Site, Client: cfg.Kube, Dynamic: cfg.Dynamic, Catalog: cfg.Catalog, Namespace: cfg.Namespace,
		Volcano: cfg.Volcano, GraceSeconds: cfg.GraceSeconds, Endpoints: cfg.Endpoints,
		Resource: func(id model.NodeID) (string, bool) { r, ok := b.inv.Resource[id]; return r, ok }}
	return b, nil
}

func (b *Bridge) count(f func(s *BridgeStatus)) {
	b.mu.Lock()
	f(&b.status)
	b.mu.Unlock()
}

func (b *Bridge) publish() {
	reg := 0
	for _, n := range b.nodes {
		if n.lease != "" {
			reg++
		}
	}
	b.count(func(s *BridgeStatus) { s.Reachable, s.Registered, s.Tracked = b.reachable, reg, len(b.placed) })
}

// Run runs the bridge until ctx ends. It returns an error only when the
// site's informers cannot start.
func (b *Bridge) Run(ctx context.Context) error {
	events := make(chan Event, 256)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- b.site.Run(sctx, events) }()
	beat := time.NewTimer(0)
	defer beat.Stop()
	// The next beat is one period after the last; a registration may
	// change the period between beats.
	last, period := time.Now(), b.lease.Period
	b.started = last
	b.log.Info("kubernetes site bridge started", "nodes", len(b.order), "namespace", b.cfg.Namespace)
	for {
		select {
		case <-ctx.Done():
			<-done
			return nil
		case err := <-done:
			if err == nil {
				err = errors.New("the site's watch stopped")
			}
			return fmt.Errorf("kube bridge %s: %w", b.cfg.Site, err)
		case e := <-events:
			b.handle(ctx, e)
		case <-beat.C:
			last = time.Now()
			b.tick(ctx)
			period = 0 // reset below
		}
		if period != b.lease.Period {
			period = b.lease.Period
			beat.Stop()
			beat.Reset(max(time.Until(last.Add(period)), 0))
		}
		b.publish()
	}
}

func (b *Bridge) handle(ctx context.Context, e Event) {
	switch e.Kind {
	case InventoryChanged:
		b.setInventory(*e.Inventory)
		if b.reachable {
			b.syncNodes(ctx)
		}
	case NodeLost:
		b.log.Warn("kubernetes node not Ready: its cards are reported in Error and its jobs requeued", "node", e.Node)
	case NodeReady:
		b.log.Info("kubernetes node Ready again", "node", e.Node)
	case Unreachable:
		b.reachable = false
		b.log.Warn("API server unreachable: heartbeats stop, so the server disconnects the site's nodes (capacity unknown) once their leases run out, and requeues their work after lost_after", "err", e.Err)
	case Reachable:
		b.reachable, b.pruned = true, ""
		for _, t := range b.placed {
			t.stale = true
		}
		b.tick(ctx)
	case JobChanged:
		if b.reachable {
			b.report(ctx, *e.Status)
		} else if t := b.placed[e.Status.Job]; t != nil {
			t.stale = true
		}
	}
}

func (b *Bridge) setInventory(inv Inventory) {
	b.inv, b.haveInv = inv, true
	b.invNodes, b.notReady, b.present, b.unknownBy = map[model.NodeID]model.Node{}, map[model.NodeID]bool{}, map[string]bool{}, map[string][]UnknownResource{}
	for _, n := range inv.Nodes {
		b.invNodes[n.ID] = n
	}
	for _, id := range inv.NotReady {
		b.notReady[id] = true
	}
	for _, name := range inv.Present {
		b.present[name] = true
	}
	for _, u := range inv.Unknown {
		b.unknownBy[u.Node] = append(b.unknownBy[u.Node], u)
	}
}

// kubeTimeout bounds the Kubernetes calls of one tick, so that a slow API
// server never delays heartbeats past a lease.
func (b *Bridge) kubeTimeout() time.Duration { return max(b.lease.Period/2, 100*time.Millisecond) }

// tick heartbeats the registered nodes, lists the assignments that changed,
// reconciles the pods with them and reports what the pods show. While the
// API server does not answer it does nothing: no heartbeat, so the server
// sees the site's capacity as unknown (lost) rather than free.
func (b *Bridge) tick(ctx context.Context) {
	if !b.haveInv {
		// The API server has not answered since the start: once a lease
		// has passed, register the nodes with their cards in Error, so
		// that the server does not take them, unregistered, as healthy.
		if time.Since(b.started) >= b.lease.TTL() {
			b.registerBlind(ctx)
		}
		return
	}
	if !b.reachable {
		return
	}
	b.syncNodes(ctx)
	running := b.runningByNode()
	listedAll := true
	for _, id := range b.order {
		n := b.nodes[id]
		if n.lease != "" {
			b.heartbeat(ctx, n, running[id])
		}
		// Unregistered nodes are listed every time: the server takes a
		// node no agent registered as healthy and may place on it.
		if n.listed && n.lease != "" {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, b.lease.Period)
		jobs, err := b.cfg.Server.Assignments(cctx, string(id))
		cancel()
		if err != nil {
			listedAll = false
			b.log.Warn("listing assignments failed", "node", id, "err", err)
			continue
		}
		n.jobs, n.listed = jobs, true
	}
	b.reconcile(ctx, listedAll)
	b.follow(ctx)
}

// runningByNode lists the workers the server has heard running, per node,
// for the heartbeats.
func (b *Bridge) runningByNode() map[model.NodeID][]v1.WorkerRef {
	out := map[model.NodeID][]v1.WorkerRef{}
	for job, t := range b.placed {
		if t.reported != model.Running {
			continue
		}
		for _, a := range t.assign {
			out[a.Node] = append(out[a.Node], v1.WorkerRef{Job: string(job), Worker: a.Worker})
		}
	}
	return out
}

// reconcile dispatches the live placements not dispatched yet, stops
// following the ones that ended or moved, and deletes their pods once every
// node's assignments are known.
func (b *Bridge) reconcile(ctx context.Context, listedAll bool) {
	want := map[model.JobID]v1.AssignedJob{}
	for _, id := range b.order {
		for _, j := range b.nodes[id].jobs {
			if (j.State != v1.StatePlaced && j.State != v1.StateRunning) || j.Placement == nil {
				continue
			}
			if cur, ok := want[model.JobID(j.ID)]; ok && !later(j.PlacedAt, cur.PlacedAt) {
				continue
			}
			want[model.JobID(j.ID)] = j
		}
	}
	kctx, cancel := context.WithTimeout(ctx, b.kubeTimeout())
	defer cancel()
	keep := map[model.JobID]string{}
	ids := make([]model.JobID, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	type todo struct {
		j v1.AssignedJob
		p model.Placement
		t *tracked
	}
	var start []todo
	for _, id := range ids {
		j := want[id]
		p := b.placementOf(j)
		if len(p.Assignments) == 0 {
			continue
		}
		key := Key(p)
		keep[id] = key
		t := b.placed[id]
		if t == nil || t.key != key {
			t = &tracked{key: key, placedAt: j.PlacedAt, assign: p.Assignments, done: map[int]bool{}, stale: true}
			b.placed[id] = t
			b.site.TrackPlacement(id, key, len(p.Assignments))
		}
		if !t.dispatched {
			start = append(start, todo{j, p, t})
		}
	}
	for id := range b.placed {
		if _, ok := keep[id]; !ok {
			delete(b.placed, id)
			b.site.Forget(id)
		}
	}
	// Stop what ended or moved before starting what is new: a requeued
	// job's old pods are terminating before its new ones exist, never two
	// placements of a job running at once.
	if !b.prune(kctx, keep, listedAll) {
		return
	}
	for _, s := range start {
		b.dispatch(kctx, s.j, s.p, s.t)
	}
}

// prune deletes the pods of placements not in keep, once every node's
// assignments are known and keep changed since the last prune. It reports
// whether only kept placements have live pods.
func (b *Bridge) prune(ctx context.Context, keep map[model.JobID]string, listedAll bool) bool {
	for _, n := range b.nodes {
		listedAll = listedAll && n.listed
	}
	if !listedAll {
		return false
	}
	fp, _ := json.Marshal(keep)
	if string(fp) == b.pruned {
		return true
	}
	n, err := b.disp.Prune(ctx, keep)
	b.count(func(s *BridgeStatus) { s.Pruned += int64(n) })
	if n > 0 {
		b.log.Info("deleted the pods of placements that ended or moved", "pods", n)
	}
	if err != nil {
		b.log.Warn("deleting pods of ended placements failed; will retry", "err", err)
		return false
	}
	b.pruned = string(fp)
	return true
}

// later reports whether placement time a is after b.
func later(a, b *time.Time) bool {
	return a != nil && (b == nil || a.After(*b))
}

// placementOf is the part of a job's placement at this site. Its Job is
// the job id and placement time, so that a job placed again on the same
// cards gets new pod names: pods of the earlier placement may still be
// terminating.
func (b *Bridge) placementOf(j v1.AssignedJob) model.Placement {
	var as []model.Assignment
	for _, a := range j.Placement.Assignments {
		if _, ok := b.nodes[model.NodeID(a.Node)]; !ok {
			continue
		}
		as = append(as, model.Assignment{Worker: a.Worker, Node: model.NodeID(a.Node), Model: a.Model, Cards: a.Cards,
			ShareMilli: a.ShareMilli, MemMiB: a.MemMiB})
	}
	gen := j.ID
	if j.PlacedAt != nil {
		gen += "@" + strconv.FormatInt(j.PlacedAt.UnixNano(), 10)
	}
	return model.Placement{Job: model.JobID(gen), Assignments: as}
}

func (b *Bridge) dispatch(ctx context.Context, j v1.AssignedJob, p model.Placement, t *tracked) {
	w := Workload{Image: b.cfg.Image, Env: map[string]string{}}
	if wl := j.Workload; wl != nil {
		w.Command = wl.Command
		for k, v := range wl.Env {
			if k == EnvImage {
				w.Image = v
				continue
			}
			w.Env[k] = v
		}
		if wl.Image != "" {
			w.Image = wl.Image
		}
		if r := wl.Resources; r != nil {
			w.CPUMilli, w.MemoryMiB = r.CPUMilli, r.MemoryMiB
		}
	}
	if all := j.Placement.Assignments; len(all) > len(p.Assignments) {
		g := &Gang{Workers: len(all)}
		for _, a := range all {
			if a.Worker == 0 {
				g.Master, g.MasterSite = model.NodeID(a.Node), model.SiteID(a.Site)
			}
		}
		w.Gang = g
	}
	if j.Checkpoint > 0 {
		w.Env["SUANLI_RESUME_STEP"] = strconv.FormatInt(j.Checkpoint, 10)
	}
	if w.Image == "" {
		t.dispatched = true
		b.send(ctx, j.ID, v1.WorkerReport{Node: string(t.assign[0].Node), Worker: t.assign[0].Worker, PlacedAt: t.placedAt, State: v1.StateFailed,
			Reason: fmt.Sprintf("no container image for Kubernetes site %s: set %s in the job's workload env, or start the server with --kube-image", b.cfg.Site, EnvImage)})
		t.reported = model.Failed
		return
	}
	if err := b.disp.Dispatch(ctx, &model.Job{ID: model.JobID(j.ID)}, p, w); errors.Is(err, ErrNoEndpoint) {
		t.dispatched = true
		b.send(ctx, j.ID, v1.WorkerReport{Node: string(t.assign[0].Node), Worker: t.assign[0].Worker, PlacedAt: t.placedAt, State: v1.StateFailed, Reason: err.Error()})
		t.reported = model.Failed
		return
	} else if err != nil {
		b.log.Warn("dispatch failed; will retry", "job", j.ID, "err", err)
		return
	}
	t.dispatched = true
	b.count(func(s *BridgeStatus) { s.Dispatched++ })
	b.log.Info("dispatched", "job", j.ID, "pods", len(p.Assignments), "placement", t.key)
}
