package kube

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"

	"github.com/suanli/suanli/internal/catalog"
	"github.com/suanli/suanli/internal/model"
)

// Workload is what a job's pods run.
type Workload struct {
	Image   string
	Command []string
	Env     map[string]string
	// CPUMilli and MemoryMiB are each pod's CPU and memory (requests and
	// limits), besides its accelerators; zero asks for none.
	CPUMilli  int64
	MemoryMiB int64
	// Gang is the whole gang when the placement's workers span sites; nil
	// when the placement at this site is all of it.
	Gang *Gang
}

// Gang is a placement's whole gang across sites: this site's pods count
// every worker in WORLD_SIZE and meet rank 0 where it runs.
type Gang struct {
	Workers    int          // every worker at every site
	Master     model.NodeID // rank 0's node
	MasterSite model.SiteID
}

// Dispatcher turns placements into Pods at one Kubernetes site.
type Dispatcher struct {
	Site      model.SiteID
	Client    Core
	Dynamic   dynamic.Interface // for Volcano PodGroups; nil when the site has no Volcano
	Catalog   *catalog.Catalog
	Namespace string
	// Volcano makes each gang a PodGroup with minMember = workers, so the
	// site's Volcano keeps gang semantics.
	Volcano bool
	// Resource gives the extended resource a node's cards are counted under
	// (from the inventory).
	Resource func(model.NodeID) (string, bool)
	// GraceSeconds is the grace period of deletes on cancel and preemption.
	GraceSeconds int64
	// MasterPort is the rendezvous port of gang workers (default 29500).
	MasterPort int
	// Endpoints are the sites' cross-site rendezvous addresses (the
	// network spec's gang_endpoint): a gang spanning sites reaches its
	// rank 0 at the endpoint of rank 0's site, on a NodePort that site's
	// dispatcher exposes.
	Endpoints map[model.SiteID]model.GangEndpoint
}

// ErrNoEndpoint: a gang spans sites and its rank 0's site has no
// gang_endpoint in the network spec. Retrying cannot help.
var ErrNoEndpoint = errors.New("no gang_endpoint in the network spec")

// GangPort is the NodePort a cross-site gang's rank 0 is exposed on at
// its site: a hash of the gang (job and placement time, the same at every
// site) into the endpoint's range, so that every site's bridge derives it
// without talking to the others.
func GangPort(gang string, ep model.GangEndpoint) int {
	sum := sha256.Sum256([]byte(gang))
	n := uint64(ep.PortMax - ep.PortMin + 1)
	var h uint64
	for _, c := range sum[:8] {
		h = h<<8 | uint64(c)
	}
	return ep.PortMin + int(h%n)
}

// PodGroupGVR is Volcano's PodGroup resource.
var PodGroupGVR = schema.GroupVersionResource{Group: "scheduling.volcano.sh", Version: "v1beta1", Resource: "podgroups"}

var (
	nonDNS   = regexp.MustCompile(`[^a-z0-9-]+`)
	nonLabel = regexp.MustCompile(`[^A-Za-z0-9._-]+`)
)

// Key is a short hash of a placement: the same placement always gives the
// same pod names, so a retry after a lost connection never dispatches twice.
func Key(p model.Placement) string {
	b, _ := json.Marshal(p.Assignments)
	sum := sha256.Sum256(append([]byte(p.Job+"\x00"), b...))
	return hex.EncodeToString(sum[:])[:10]
}

// GroupName is the name of a placement's pods' prefix and PodGroup.
func GroupName(job model.JobID, p model.Placement) string {
	base := strings.Trim(nonDNS.ReplaceAllString(strings.ToLower(string(job)), "-"), "-")
	if len(base) > 36 {
		base = base[:36]
	}
	return fmt.Sprintf("sl-%s-%s", base, Key(p))
}

// PodName is the name of one worker's pod.
func PodName(job model.JobID, p model.Placement, worker int) string {
	return fmt.Sprintf("%s-%d", GroupName(job, p), worker)
}

func (d *Dispatcher) k8sNode(id model.NodeID) (string, error) {
	name, ok := strings.CutPrefix(string(id), string(d.Site)+"-")
	if !ok {
		return "", fmt.Errorf("node %s is not at site %s", id, d.Site)
	}
	return name, nil
}

// Pods builds the pods of a placement (pure).
func (d *Dispatcher) Pods(job *model.Job, p model.Placement, w Workload) ([]*corev1.Pod, error) {
	if len(p.Assignments) == 0 {
		return nil, errors.New("placement has no assignments")
	}
	group := GroupName(job.ID, p)
	rv, err := d.rankZero(job, p, w, group)
	if err != nil {
		return nil, err
	}
	var pods []*corev1.Pod
	var errs []error
	for _, a := range p.Assignments {
		pod, err := d.pod(job, p, a, w, group, rv)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		pods = append(pods, pod)
	}
	return pods, errors.Join(errs...)
}

// rendezvous is where a placement's workers meet: how many there are in
// all (the gang's, across sites) and rank 0's address and port.
type rendezvous struct {
	world int
	addr  string
	port  int
}

// rankZero finds where rank 0 listens: this site's first worker, the
// gang's master node here, or another site's gang endpoint.
func (d *Dispatcher) rankZero(job *model.Job, p model.Placement, w Workload, group string) (rendezvous, error) {
	port := d.MasterPort
	if port == 0 {
		port = 29500
	}
	world := len(p.Assignments)
	masterAddr := PodName(job.ID, p, p.Assignments[0].Worker) + "." + group
	masterPort := port
	if g := w.Gang; g != nil {
		world = g.Workers
		if g.MasterSite != d.Site {
			ep, ok := d.Endpoints[g.MasterSite]
			if !ok {
				return rendezvous{}, fmt.Errorf("%w: the gang's rank 0 runs at site %s, which has none, so workers at %s cannot reach it; give that site a gang_endpoint (a host and NodePort range other sites reach; only kubernetes sites have one, so a gang whose rank 0 runs at an agent-run site cannot have workers at Kubernetes sites)", ErrNoEndpoint, g.MasterSite, d.Site)
			}
			masterAddr, masterPort = ep.Host, GangPort(string(p.Job), ep)
		} else {
			masterAddr = ""
			for _, a := range p.Assignments {
				if a.Node == g.Master {
					masterAddr = PodName(job.ID, p, a.Worker) + "." + group
				}
			}
			if masterAddr == "" {
				return rendezvous{}, fmt.Errorf("the gang's rank 0 node %s is not in this site's placement", g.Master)
			}
		}
	}
	return rendezvous{world: world, addr: masterAddr, port: masterPort}, nil
}

// pod is the pod of one worker of the placement, in the pod group group.
func (d *Dispatcher) pod(job *model.Job, p model.Placement, a model.Assignment, w Workload, group string, rv rendezvous) (*corev1.Pod, error) {
	node, err := d.k8sNode(a.Node)
	if err != nil {
		return nil, err
	}
	res, ok := d.Resource(a.Node)
	if !ok {
		return nil, fmt.Errorf("node %s has no known accelerator resource", a.Node)
	}
	limits, err := d.limits(res, a)
	if err != nil {
		return nil, err
	}
	if w.CPUMilli > 0 {
		limits[corev1.ResourceCPU] = *resource.NewMilliQuantity(w.CPUMilli, resource.DecimalSI)
	}
	if w.MemoryMiB > 0 {
		limits[corev1.ResourceMemory] = *resource.NewQuantity(w.MemoryMiB<<20, resource.BinarySI)
	}
	env := workerEnv(job, a, w, rv)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:      PodName(job.ID, p, a.Worker),
			Namespace: d.Namespace,
			Labels: map[string]string{
				LabelJob: labelValue(string(job.ID)), LabelWorker: strconv.Itoa(a.Worker), LabelPlacement: Key(p),
			},
			Annotations: map[string]string{"suanli.io/job-id": string(job.ID), "suanli.io/node": string(a.Node)},
		},
		Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever,
			Hostname:      PodName(job.ID, p, a.Worker),
			Subdomain:     group,
			Containers: []corev1.Container{{
				Name: "worker", Image: w.Image, Command: w.Command, Env: env,
				Resources: corev1.ResourceRequirements{Limits: limits, Requests: limits},
			}},
		},
	}
	if d.Volcano {
		// Volcano gang-schedules the group; pin each pod by affinity.
		pod.Spec.SchedulerName = "volcano"
		pod.Annotations["scheduling.k8s.io/group-name"] = group
		pod.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/hostname", Operator: corev1.NodeSelectorOpIn, Values: []string{node}}},
			}}},
		}}
	} else {
		// Suanli has placed it: bind directly, no scheduler involved.
		pod.Spec.NodeName = node
	}
	return pod, nil
}

// workerEnv is a worker's environment: the job, the rendezvous, its rank,
// its share of a mixed-model gang's step, and the workload's own.
func workerEnv(job *model.Job, a model.Assignment, w Workload, rv rendezvous) []corev1.EnvVar {
	env := []corev1.EnvVar{
		{Name: "SUANLI_JOB", Value: string(job.ID)},
		{Name: "WORLD_SIZE", Value: strconv.Itoa(rv.world)},
		{Name: "RANK", Value: strconv.Itoa(a.Worker)},
		{Name: "MASTER_ADDR", Value: rv.addr},
		{Name: "MASTER_PORT", Value: strconv.Itoa(rv.port)},
	}
	if ws := a.WorkShareMilli; ws > 0 { // a mixed-model gang: this worker's part of the step
		env = append(env, corev1.EnvVar{Name: "SUANLI_WORK_SHARE", Value: fmt.Sprintf("%d.%03d", ws/1000, ws%1000)},
			corev1.EnvVar{Name: "SUANLI_WORK_SHARE_MILLI", Value: strconv.Itoa(ws)})
	}
	for _, k := range sortedKeys(w.Env) {
		env = append(env, corev1.EnvVar{Name: k, Value: w.Env[k]})
	}
	return env
}

// limits asks for whole cards by the node's resource name, or for a share
// through the model's memory and core resources (HAMi-style names).
func (d *Dispatcher) limits(res string, a model.Assignment) (corev1.ResourceList, error) {
	if a.ShareMilli == 0 {
		return corev1.ResourceList{corev1.ResourceName(res): *resource.NewQuantity(int64(len(a.Cards)), resource.DecimalSI)}, nil
	}
	m, ok := d.Catalog.Lookup(a.Model)
	if !ok {
		return nil, fmt.Errorf("model %s not in the catalog", a.Model)
	}
	var mem, core string
	for _, r := range m.K8sResources {
		l := strings.ToLower(r)
		switch {
		case strings.HasSuffix(l, "-memory") || strings.HasSuffix(l, "gpumem") || strings.HasSuffix(l, "vmemory"):
			mem = r
		case strings.HasSuffix(l, "-core") || strings.HasSuffix(l, "gpucores") || strings.HasSuffix(l, "vcore"):
			core = r
		}
	}
	if mem == "" || core == "" {
		return nil, fmt.Errorf("a fractional share of %s needs its sharing resources (memory and core) on the site; the catalog lists none", m.ID)
	}
	return corev1.ResourceList{
		corev1.ResourceName(res):  *resource.NewQuantity(1, resource.DecimalSI),
		corev1.ResourceName(mem):  *resource.NewQuantity(a.MemMiB, resource.DecimalSI),
		corev1.ResourceName(core): *resource.NewQuantity(int64(a.ShareMilli/10), resource.DecimalSI),
	}, nil
}

// Dispatch creates the placement's pods (and PodGroup). Creating what
// already exists is success, so a retry never dispatches twice.
func (d *Dispatcher) Dispatch(ctx context.Context, job *model.Job, p model.Placement, w Workload) error {
	pods, err := d.Pods(job, p, w)
	if err != nil {
		return fmt.Errorf("dispatch %s: %w", job.ID, err)
	}
	if d.Volcano {
		if err := d.podGroup(ctx, job, p); err != nil {
			return err
		}
	}
	if len(pods) > 1 {
		if err := d.service(ctx, job, p); err != nil {
			return err
		}
	}
	if g := w.Gang; g != nil && g.MasterSite == d.Site && g.Workers > len(p.Assignments) {
		if err := d.rendezvous(ctx, job, p, g); err != nil {
			return err
		}
	}
	for _, pod := range pods {
		_, err := d.Client.Pods(d.Namespace).Create(ctx, pod, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("dispatch %s: create pod %s: %w", job.ID, pod.Name, err)
		}
	}
	return nil
}

func (d *Dispatcher) podGroup(ctx context.Context, job *model.Job, p model.Placement) error {
	if d.Dynamic == nil {
		return errors.New("volcano site without a dynamic client")
	}
	pg := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "scheduling.volcano.sh/v1beta1",
		"kind":       "PodGroup",
		"metadata": map[string]any{
			"name": GroupName(job.ID, p), "namespace": d.Namespace,
			"labels": map[string]any{LabelJob: labelValue(string(job.ID)), LabelPlacement: Key(p)},
		},
		"spec": map[string]any{"minMember": int64(len(p.Assignments))},
	}}
	_, err := d.Dynamic.Resource(PodGroupGVR).Namespace(d.Namespace).Create(ctx, pg, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("dispatch %s: create PodGroup: %w", job.ID, err)
	}
	return nil
}

// service creates the headless Service that gives a gang's pods the DNS
// names MASTER_ADDR uses (<pod>.<group>), published before the pods are
// ready so that workers can meet while starting.
func (d *Dispatcher) service(ctx context.Context, job *model.Job, p model.Placement) error {
	l := map[string]string{LabelJob: labelValue(string(job.ID)), LabelPlacement: Key(p)}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: GroupName(job.ID, p), Namespace: d.Namespace, Labels: l,
			Annotations: map[string]string{"suanli.io/job-id": string(job.ID)}},
		Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: l, PublishNotReadyAddresses: true},
	}
	_, err := d.Client.Services(d.Namespace).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("dispatch %s: create Service %s: %w", job.ID, svc.Name, err)
	}
	return nil
}

// rendezvous exposes a cross-site gang's rank 0 on the site's gang
// endpoint: a NodePort Service on GangPort forwarding to the master port of
// the rank-0 pod.
func (d *Dispatcher) rendezvous(ctx context.Context, job *model.Job, p model.Placement, g *Gang) error {
	ep, ok := d.Endpoints[d.Site]
	if !ok {
		return fmt.Errorf("dispatch %s: %w: the gang spans sites and its rank 0 runs at site %s, which has none; give it one (a host and NodePort range other sites reach)", job.ID, ErrNoEndpoint, d.Site)
	}
	port := d.MasterPort
	if port == 0 {
		port = 29500
	}
	master := -1
	for _, a := range p.Assignments {
		if a.Node == g.Master {
			master = a.Worker
		}
	}
	l := map[string]string{LabelJob: labelValue(string(job.ID)), LabelPlacement: Key(p)}
	sel := map[string]string{LabelJob: l[LabelJob], LabelPlacement: l[LabelPlacement], LabelWorker: strconv.Itoa(master)}
	node := GangPort(string(p.Job), ep)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: GroupName(job.ID, p) + "-rdv", Namespace: d.Namespace, Labels: l,
			Annotations: map[string]string{"suanli.io/job-id": string(job.ID)}},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Selector: sel, PublishNotReadyAddresses: true,
			Ports: []corev1.ServicePort{{Name: "rendezvous", Port: int32(port), TargetPort: intstr.FromInt(port), NodePort: int32(node)}}},
	}
	_, err := d.Client.Services(d.Namespace).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		// The API server allocates the NodePort before it looks at the
		// name, so a retry after an earlier attempt created this Service
		// (and failed later, at a pod) reads "port already allocated", not
		// "already exists": the Service we want is then there.
		if d.haveService(ctx, svc) {
			return nil
		}
		// Otherwise the port is held by another Service (a hash collision:
		// it clears when that gang ends) or by a create whose reply was
		// lost (the API server's repair loop frees it within minutes).
		return fmt.Errorf("dispatch %s: create rendezvous Service %s on NodePort %d (gang_endpoint %s %d-%d): %w", job.ID, svc.Name, node, ep.Host, ep.PortMin, ep.PortMax, err)
	}
	return nil
}

// haveService says whether svc, by name and placement label, is already in
// the namespace.
func (d *Dispatcher) haveService(ctx context.Context, svc *corev1.Service) bool {
	sel := LabelJob + "=" + svc.Labels[LabelJob] + "," + LabelPlacement + "=" + svc.Labels[LabelPlacement]
	list, err := d.Client.Services(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return false
	}
	for _, have := range list.Items {
		if have.Name == svc.Name {
			return true
		}
	}
	return false
}

// labelValue makes a job id a valid label value (63 characters, alphanumeric
// ends); the full id stays in an annotation.
func labelValue(s string) string {
	v := nonLabel.ReplaceAllString(s, "-")
	if len(v) > 63 {
		v = v[:63]
	}
	return strings.Trim(v, "-._")
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Prune deletes, with the grace period, the pods (and PodGroups) of every
// placement that keep does not hold: keep maps a job to the key of its one
// live placement at the site. A job cancelled, preempted, finished or
// placed elsewhere loses its pods this way; pods already terminating are
// left alone. It returns how many pods it deleted.
func (d *Dispatcher) Prune(ctx context.Context, keep map[model.JobID]string) (int, error) {
	pods, err := d.Client.Pods(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelJob})
	if err != nil {
		return 0, fmt.Errorf("prune: list pods: %w", err)
	}
	grace := d.GraceSeconds
	deleted := 0
	var errs []error
	for _, p := range pods.Items {
		job := model.JobID(p.Annotations["suanli.io/job-id"])
		if job == "" || p.DeletionTimestamp != nil || keep[job] == p.Labels[LabelPlacement] {
			continue
		}
		err := d.Client.Pods(d.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &grace})
		switch {
		case err == nil:
			deleted++
		case !apierrors.IsNotFound(err):
			errs = append(errs, fmt.Errorf("prune: delete pod %s: %w", p.Name, err))
		}
	}
	// Services and PodGroups carry the job's label value, not its full id.
	kept := make(map[string]bool, len(keep))
	for job, key := range keep {
		kept[labelValue(string(job))+"/"+key] = true
	}
	svcs, err := d.Client.Services(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelJob})
	if err != nil {
		return deleted, errors.Join(append(errs, fmt.Errorf("prune: list Services: %w", err))...)
	}
	for _, s := range svcs.Items {
		if s.DeletionTimestamp != nil || kept[s.Labels[LabelJob]+"/"+s.Labels[LabelPlacement]] {
			continue
		}
		err := d.Client.Services(d.Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("prune: delete Service %s: %w", s.Name, err))
		}
	}
	if d.Volcano && d.Dynamic != nil {
		groups, err := d.Dynamic.Resource(PodGroupGVR).Namespace(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: LabelJob})
		if err != nil {
			return deleted, errors.Join(append(errs, fmt.Errorf("prune: list PodGroups: %w", err))...)
		}
		for _, g := range groups.Items {
			l := g.GetLabels()
			if g.GetDeletionTimestamp() != nil || kept[l[LabelJob]+"/"+l[LabelPlacement]] {
				continue
			}
			err := d.Dynamic.Resource(PodGroupGVR).Namespace(d.Namespace).Delete(ctx, g.GetName(), metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("prune: delete PodGroup %s: %w", g.GetName(), err))
			}
		}
	}
	return deleted, errors.Join(errs...)
}
