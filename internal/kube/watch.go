package kube

import (
	"context"
	"errors"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// Reasons of a failing list or watch, the `reason` of
// cert_expiry_exporter_kubernetes_watch_error.
const (
	reasonForbidden    = "forbidden"
	reasonUnauthorized = "unauthorized"
	reasonNotFound     = "not_found"
	reasonUnavailable  = "unavailable"
	reasonConfig       = "config" // the client could not be made (kubeconfig, in-cluster)
	reasonError        = "error"
)

// Resources of the watch error series.
const (
	resourceSecrets    = "secrets"
	resourceNamespaces = "namespaces"
	resourceClient     = "client"
)

// pageSize is the LIST page: a full list never holds more than one page of Secrets with their
// data (each page is parsed and its data dropped before the next is asked for).
const pageSize = 500

// backoff is the reflectors' retry after a failed list or watch: an API server that comes
// back is seen within seconds (client-go's cap is 30s), at one request per watch per cap
// while it is away.
var backoff = wait.Backoff{Duration: 500 * time.Millisecond, Cap: 5 * time.Second, Steps: 1 << 30, Factor: 2, Jitter: 0.5}

// watchKey names one reflector: a resource in a namespace ("" for all), of a Secret type.
type watchKey struct{ namespace, resource, typ string }

// listWatch is a ListerWatcher that reports every outcome (to keep the error series current)
// and turns objects into what is kept of them before the reflector sees them.
type listWatch struct {
	list   func(context.Context, metav1.ListOptions) (runtime.Object, error)
	watch  func(context.Context, metav1.ListOptions) (watch.Interface, error)
	report func(error)
}

func (l *listWatch) List(opts metav1.ListOptions) (runtime.Object, error) {
	return l.ListWithContext(context.Background(), opts)
}

func (l *listWatch) ListWithContext(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
	o, err := l.list(ctx, opts)
	l.report(err)
	return o, err
}

func (l *listWatch) Watch(opts metav1.ListOptions) (watch.Interface, error) {
	return l.WatchWithContext(context.Background(), opts)
}

func (l *listWatch) WatchWithContext(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	w, err := l.watch(ctx, opts)
	l.report(err)
	return w, err
}

// IsWatchListSemanticsUnSupported keeps the reflector on paged LISTs: a streaming watch-list
// would gather every Secret, with its data, in a temporary store before handing them over.
func (l *listWatch) IsWatchListSemanticsUnSupported() bool { return true }

// classify maps a list or watch error to its reason; "" for what the reflector handles by
// itself (a resource version too old: it lists again) and for a stop.
func classify(err error) string {
	switch {
	case err == nil, apierrors.IsResourceExpired(err), apierrors.IsGone(err), errors.Is(err, context.Canceled):
		return ""
	case apierrors.IsForbidden(err):
		return reasonForbidden
	case apierrors.IsUnauthorized(err):
		return reasonUnauthorized
	case apierrors.IsNotFound(err):
		return reasonNotFound
	case apierrors.IsTooManyRequests(err), apierrors.IsServiceUnavailable(err), apierrors.IsTimeout(err),
		apierrors.IsServerTimeout(err), apierrors.IsInternalError(err):
		return reasonUnavailable
	}
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return reasonError
	}
	return reasonUnavailable // not an answer of the API server: it could not be reached
}

// secretStore is one reflector's Secrets. The reflector calls it from its goroutine; the
// snapshot reads it from another.
type secretStore struct {
	changed func()
	mu      sync.Mutex
	items   map[string]*secretCerts // by namespace/name
	synced  bool                    // a first list arrived
}

func newSecretStore(changed func()) *secretStore {
	return &secretStore{changed: changed, items: map[string]*secretCerts{}}
}

func storeKey(o any) string {
	s := o.(*secretCerts)
	return s.Namespace + "/" + s.Name
}

func (s *secretStore) Add(o any) error {
	s.mu.Lock()
	s.items[storeKey(o)] = o.(*secretCerts)
	s.mu.Unlock()
	s.changed()
	return nil
}

func (s *secretStore) Update(o any) error { return s.Add(o) }

func (s *secretStore) Delete(o any) error {
	s.mu.Lock()
	delete(s.items, storeKey(o))
	s.mu.Unlock()
	s.changed()
	return nil
}

func (s *secretStore) Replace(list []any, _ string) error {
	items := make(map[string]*secretCerts, len(list))
	for _, o := range list {
		items[storeKey(o)] = o.(*secretCerts)
	}
	s.mu.Lock()
	s.items, s.synced = items, true
	s.mu.Unlock()
	s.changed()
	return nil
}

func (s *secretStore) Resync() error { return nil }

// each calls f with every Secret, and says whether the store was synced once.
func (s *secretStore) each(f func(*secretCerts)) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range s.items {
		f(v)
	}
	return s.synced
}

// namespaceStore follows the names of the namespaces a label selector keeps, and hands the
// whole set to update after each change.
type namespaceStore struct {
	update func(names map[string]bool)
	mu     sync.Mutex
	names  map[string]bool
}

func (n *namespaceStore) apply(f func()) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	f()
	n.update(n.names)
	return nil
}

func (n *namespaceStore) Add(o any) error {
	return n.apply(func() { n.names[o.(*corev1.Namespace).Name] = true })
}

func (n *namespaceStore) Update(o any) error { return n.Add(o) }

func (n *namespaceStore) Delete(o any) error {
	return n.apply(func() { delete(n.names, o.(*corev1.Namespace).Name) })
}

func (n *namespaceStore) Replace(list []any, _ string) error {
	return n.apply(func() {
		n.names = make(map[string]bool, len(list))
		for _, o := range list {
			n.names[o.(*corev1.Namespace).Name] = true
		}
	})
}

func (n *namespaceStore) Resync() error { return nil }

// newReflector makes a reflector of lw into store with the source's paging and backoff.
func newReflector(name string, lw *listWatch, expected runtime.Object, store cache.ReflectorStore) *cache.Reflector {
	b := backoff
	r := cache.NewReflectorWithOptions(lw, expected, store, cache.ReflectorOptions{Name: name, Backoff: &b})
	r.WatchListPageSize = pageSize
	return r
}
