package kube

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
)

// PodClient is the part of the core/v1 Pods API a site uses. The typed
// clientset's PodInterface satisfies it.
type PodClient interface {
	Create(ctx context.Context, pod *corev1.Pod, opts metav1.CreateOptions) (*corev1.Pod, error)
	List(ctx context.Context, opts metav1.ListOptions) (*corev1.PodList, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

// ServiceClient is the part of the core/v1 Services API a site uses.
type ServiceClient interface {
	Create(ctx context.Context, svc *corev1.Service, opts metav1.CreateOptions) (*corev1.Service, error)
	List(ctx context.Context, opts metav1.ListOptions) (*corev1.ServiceList, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

// NodeClient is the part of the core/v1 Nodes API a site uses.
type NodeClient interface {
	List(ctx context.Context, opts metav1.ListOptions) (*corev1.NodeList, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

// Core is the Kubernetes API a site needs: pods and services in its
// namespace, nodes, and a probe that the API server answers. NewCore gives
// one over a REST client that knows core/v1 alone: the typed clientset
// registers every API group and its informer factory every informer, which
// made up a fifth of the binary.
type Core interface {
	Pods(namespace string) PodClient
	Services(namespace string) ServiceClient
	Nodes() NodeClient
	Probe(ctx context.Context) error
}

var coreScheme = runtime.NewScheme()

func init() { utilruntime.Must(corev1.AddToScheme(coreScheme)) }

// NewCore returns a Core for the cluster cfg points at.
func NewCore(cfg *rest.Config) (Core, error) {
	c := rest.CopyConfig(cfg)
	gv := corev1.SchemeGroupVersion
	c.GroupVersion, c.APIPath = &gv, "/api"
	c.NegotiatedSerializer = serializer.NewCodecFactory(coreScheme).WithoutConversion()
	if c.UserAgent == "" {
		c.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	rc, err := rest.RESTClientFor(c)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client for %s: %w", cfg.Host, err)
	}
	return restCore{rc: rc, pc: runtime.NewParameterCodec(coreScheme)}, nil
}

type restCore struct {
	rc rest.Interface
	pc runtime.ParameterCodec
}

func (c restCore) Pods(ns string) PodClient {
	return restResource[*corev1.Pod, *corev1.PodList]{c, "pods", ns,
		func() *corev1.Pod { return &corev1.Pod{} }, func() *corev1.PodList { return &corev1.PodList{} }}
}

func (c restCore) Services(ns string) ServiceClient {
	return restResource[*corev1.Service, *corev1.ServiceList]{c, "services", ns,
		func() *corev1.Service { return &corev1.Service{} }, func() *corev1.ServiceList { return &corev1.ServiceList{} }}
}

func (c restCore) Nodes() NodeClient {
	return restResource[*corev1.Node, *corev1.NodeList]{c, "nodes", "",
		func() *corev1.Node { return &corev1.Node{} }, func() *corev1.NodeList { return &corev1.NodeList{} }}
}

// restResource is one kind of object over the REST client: what client-go's
// gentype does, without the fake client that package links in.
type restResource[T, L runtime.Object] struct {
	c        restCore
	name, ns string // resource and namespace ("" for cluster-scoped)
	new      func() T
	newList  func() L
}

func (r restResource[T, L]) req(verb func() *rest.Request) *rest.Request {
	return verb().NamespaceIfScoped(r.ns, r.ns != "").Resource(r.name)
}

func (r restResource[T, L]) Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error) {
	out := r.new()
	err := r.req(r.c.rc.Post).VersionedParams(&opts, r.c.pc).Body(obj).Do(ctx).Into(out)
	return out, err
}

func (r restResource[T, L]) List(ctx context.Context, opts metav1.ListOptions) (L, error) {
	out := r.newList()
	err := r.req(r.c.rc.Get).VersionedParams(&opts, r.c.pc).Timeout(timeout(opts)).Do(ctx).Into(out)
	return out, err
}

func (r restResource[T, L]) Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error {
	return r.req(r.c.rc.Delete).Name(name).Body(&opts).Do(ctx).Error()
}

func (r restResource[T, L]) Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	opts.Watch = true
	return r.req(r.c.rc.Get).VersionedParams(&opts, r.c.pc).Timeout(timeout(opts)).Watch(ctx)
}

func timeout(opts metav1.ListOptions) time.Duration {
	if opts.TimeoutSeconds == nil {
		return 0
	}
	return time.Duration(*opts.TimeoutSeconds) * time.Second
}

// Probe asks the API server for its version.
func (c restCore) Probe(ctx context.Context) error {
	return c.rc.Get().AbsPath("/version").Do(ctx).Error()
}
