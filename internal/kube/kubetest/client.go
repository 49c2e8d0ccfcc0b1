package kubetest

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/gentype"
	"k8s.io/client-go/rest"
	kt "k8s.io/client-go/testing"
)

var (
	metavCreate = metav1.CreateOptions{}
	metavList   = metav1.ListOptions{}
)

var (
	scheme = runtime.NewScheme()
	codecs = serializer.NewCodecFactory(scheme)
)

func init() { utilruntime.Must(corev1.AddToScheme(scheme)) }

// Client is a core/v1 client for tests (pods, services, nodes,
// namespaces), over a real API server (NewClient) or over client-go's
// in-memory object tracker (NewFake), as client-go's typed clientset and
// its fake are; the typed clientset registers every API group, which
// these tests do not need.
type Client struct {
	rc   rest.Interface // nil for a fake
	pc   runtime.ParameterCodec
	fake *kt.Fake
}

// NewClient returns a Client for the cluster cfg points at.
func NewClient(t testing.TB, cfg *rest.Config) *Client {
	t.Helper()
	c := rest.CopyConfig(cfg)
	gv := corev1.SchemeGroupVersion
	c.GroupVersion, c.APIPath = &gv, "/api"
	c.NegotiatedSerializer = codecs.WithoutConversion()
	rc, err := rest.RESTClientFor(c)
	if err != nil {
		t.Fatal(err)
	}
	return &Client{rc: rc, pc: runtime.NewParameterCodec(scheme)}
}

// NewFake returns a Client over an in-memory tracker holding objs, as
// client-go's fake.NewSimpleClientset does: list filters by label, and
// watches see what is created, updated or deleted after they start.
func NewFake(objs ...runtime.Object) *Client {
	o := kt.NewObjectTracker(scheme, codecs.UniversalDecoder())
	for _, obj := range objs {
		if err := o.Add(obj); err != nil {
			panic(err)
		}
	}
	f := &kt.Fake{}
	f.AddReactor("*", "*", kt.ObjectReaction(o))
	f.AddWatchReactor("*", func(action kt.Action) (bool, watch.Interface, error) {
		var opts metav1.ListOptions
		if wa, ok := action.(kt.WatchActionImpl); ok {
			opts = wa.ListOptions
		}
		w, err := o.Watch(action.GetResource(), action.GetNamespace(), opts)
		return err == nil, w, err
	})
	return &Client{fake: f}
}

// IsWatchListSemanticsUnSupported is true for a fake: the tracker cannot
// stream a list, so informers list, then watch (client-go asks this of a
// client through util/watchlist).
func (c *Client) IsWatchListSemanticsUnSupported() bool { return c.fake != nil }

// Resource is what the tests do with one kind of object.
type Resource[T, L runtime.Object] interface {
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	List(ctx context.Context, opts metav1.ListOptions) (L, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
	UpdateStatus(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

// CoreV1 gives the core/v1 resources, as the typed clientset's CoreV1 does.
func (c *Client) CoreV1() CoreV1 { return CoreV1{c} }

// CoreV1 is the core/v1 group of a Client.
type CoreV1 struct{ c *Client }

// Pods are the pods of a namespace.
func (g CoreV1) Pods(ns string) Resource[*corev1.Pod, *corev1.PodList] {
	return resource(g.c, "pods", "Pod", ns, func() *corev1.Pod { return &corev1.Pod{} }, func() *corev1.PodList { return &corev1.PodList{} },
		func(d, s *corev1.PodList) { d.ListMeta = s.ListMeta },
		func(l *corev1.PodList) []*corev1.Pod { return gentype.ToPointerSlice(l.Items) },
		func(l *corev1.PodList, items []*corev1.Pod) { l.Items = gentype.FromPointerSlice(items) })
}

// Services are the services of a namespace.
func (g CoreV1) Services(ns string) Resource[*corev1.Service, *corev1.ServiceList] {
	return resource(g.c, "services", "Service", ns, func() *corev1.Service { return &corev1.Service{} },
		func() *corev1.ServiceList { return &corev1.ServiceList{} },
		func(d, s *corev1.ServiceList) { d.ListMeta = s.ListMeta },
		func(l *corev1.ServiceList) []*corev1.Service { return gentype.ToPointerSlice(l.Items) },
		func(l *corev1.ServiceList, items []*corev1.Service) { l.Items = gentype.FromPointerSlice(items) })
}

// Nodes are the cluster's nodes.
func (g CoreV1) Nodes() Resource[*corev1.Node, *corev1.NodeList] {
	return resource(g.c, "nodes", "Node", "", func() *corev1.Node { return &corev1.Node{} }, func() *corev1.NodeList { return &corev1.NodeList{} },
		func(d, s *corev1.NodeList) { d.ListMeta = s.ListMeta },
		func(l *corev1.NodeList) []*corev1.Node { return gentype.ToPointerSlice(l.Items) },
		func(l *corev1.NodeList, items []*corev1.Node) { l.Items = gentype.FromPointerSlice(items) })
}

// Namespaces are the cluster's namespaces.
func (g CoreV1) Namespaces() Resource[*corev1.Namespace, *corev1.NamespaceList] {
	return resource(g.c, "namespaces", "Namespace", "", func() *corev1.Namespace { return &corev1.Namespace{} },
		func() *corev1.NamespaceList { return &corev1.NamespaceList{} },
		func(d, s *corev1.NamespaceList) { d.ListMeta = s.ListMeta },
		func(l *corev1.NamespaceList) []*corev1.Namespace { return gentype.ToPointerSlice(l.Items) },
		func(l *corev1.NamespaceList, items []*corev1.Namespace) { l.Items = gentype.FromPointerSlice(items) })
}

type object interface {
	*corev1.Pod | *corev1.Service | *corev1.Node | *corev1.Namespace
	runtime.Object
	metav1.Object
}

// resource is client-go's generic typed client (gentype) for one kind, the
// REST one or the fake one.
func resource[T object, L runtime.Object](c *Client, plural, kind, ns string, newObj func() T, newList func() L,
	copyMeta func(L, L), items func(L) []T, setItems func(L, []T)) Resource[T, L] {
	if c.fake != nil {
		gv := corev1.SchemeGroupVersion
		return gentype.NewFakeClientWithList(c.fake, ns, gv.WithResource(plural), gv.WithKind(kind), newObj, newList, copyMeta, items, setItems)
	}
	return gentype.NewClientWithList(plural, c.rc, c.pc, ns, newObj, newList)
}
