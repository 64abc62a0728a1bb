package kube

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
)

// Reasons of a failing list or watch, the `reason` of
// cert_expiry_exporter_kubernetes_watch_error and of the source's errors_total.
const (
	reasonForbidden    = "forbidden"
	reasonUnauthorized = "unauthorized"
	reasonNotFound     = "not_found"
	reasonUnavailable  = "unavailable"
	reasonConfig       = "config" // the client could not be made (kubeconfig, in-cluster, password file)
	reasonError        = "error"
)

// ErrorReasons are the reasons of errors_total{source="kubernetes"}, pre-created at 0: those of
// a failing list or watch.
var ErrorReasons = []string{reasonForbidden, reasonUnauthorized, reasonNotFound, reasonUnavailable, reasonConfig, reasonError}

// SecretReasons are those of cert_expiry_exporter_kubernetes_secret_error, a Secret key
// without a usable certificate: certs.DecodeReason's and too_large.
var SecretReasons = []string{"parse", "empty", "password", reasonTooLarge}

// ConfigMapReasons are those of cert_expiry_exporter_kubernetes_configmap_error, a ConfigMap
// key without a CA certificate: the same as a Secret key's (a PKCS#12 trust store with a
// password is password: it is read without one).
var ConfigMapReasons = SecretReasons

// CertificateReasons are those of cert_expiry_exporter_kubernetes_certificate_error, a
// cert-manager Certificate whose status cannot be read.
var CertificateReasons = []string{reasonStatus}

// IngressReasons are those of an Ingress whose hosts are not probed (kubernetes.ingresses):
// problems on /certificates only, like the watch errors explained in CertExpiryExporterErrors.
var IngressReasons = []string{reasonNoAddress, reasonTooManyTargets}

// Reasons are those of the source's problems: a failing list or watch (ErrorReasons), the
// per-object errors (SecretReasons, which ConfigMapReasons are, CertificateReasons), which CertExpiryExporterKubernetesObjectError
// pages for, and the Ingresses not probed (IngressReasons). The /certificates page links a
// runbook section for each.
var Reasons = slices.Concat(ErrorReasons, SecretReasons, CertificateReasons, IngressReasons)

// defaultPageSize is the LIST page: a full list never holds more than one page of Secrets with
// their data (each page is parsed and its data dropped before the next is asked for).
const defaultPageSize = 500

// backoff is the reflectors' retry after a failed list or watch: an API server that comes
// back is seen within seconds (client-go's cap is 30s), at one request per watch per cap
// while it is away.
var backoff = wait.Backoff{Duration: 500 * time.Millisecond, Cap: 5 * time.Second, Steps: 1 << 30, Factor: 2, Jitter: 0.5}

// watcher is one reflector: the objects of one resource in one namespace (or the whole
// cluster), those it keeps and the outcome of its latest list or watch call. The reflector
// calls it from its goroutine; the snapshot reads it from another.
type watcher struct {
	namespace string // allNamespaces: the whole cluster
	// status is the name of the source_up series the watch counts in: the namespace for
	// Secrets, cert-manager/<namespace> for cert-manager's resources, configmaps/<namespace>
	// for ConfigMaps, so that each fails alone; namespaces/<selector> for the namespace watch
	// of namespaces.label_selector.
	status   string
	res      resource
	pageSize int64
	clock    clockwork.Clock
	log      *slog.Logger
	changed  func() // called after every change; must not call back into the watcher

	mu          sync.Mutex
	items       map[string]runtime.Object // by namespace/name, as res keeps them
	synced      bool                      // a list arrived
	reason, msg string                    // of the latest failure, "" once a call worked again
	lastSuccess time.Time
	errors      map[string]uint64
}

// resource is what a watcher lists and watches (the Secrets of one type, or one of
// cert-manager's resources) and what it keeps of each object.
type resource interface {
	// String names the watch in the log and the problems: "kubernetes.io/tls Secrets".
	String() string
	// name is the `resource` label of cert_expiry_exporter_kubernetes_watch_error.
	name() string
	// list is a page of objects, already as kept.
	list(ctx context.Context, namespace string, opts metav1.ListOptions) (runtime.Object, error)
	watch(ctx context.Context, namespace string, opts metav1.ListOptions) (watch.Interface, error)
	// keep is what is kept of the object of a watch event.
	keep(ev watch.Event) runtime.Object
	// expected is the type keep returns, which the reflector checks.
	expected() runtime.Object
}

func newWatcher(ns, status string, res resource, pageSize int64, clock clockwork.Clock, log *slog.Logger) *watcher {
	return &watcher{namespace: ns, status: status, res: res, pageSize: pageSize, clock: clock, log: log,
		items: map[string]runtime.Object{}, errors: source.NewErrors(ErrorReasons...)}
}

func (w *watcher) where() string {
	if _, ok := w.res.(*namespaces); ok {
		return w.res.String() // cluster-scoped
	}
	return w.res.String() + " in namespace " + w.namespace
}

func (w *watcher) run(ctx context.Context) {
	b := backoff
	r := cache.NewReflectorWithOptions(w, w.res.expected(), w, cache.ReflectorOptions{Name: w.where(), Backoff: &b})
	r.WatchListPageSize = w.pageSize
	r.RunWithContext(ctx)
}

// report records the outcome of a list or watch call, or an error the watch stream sent.
func (w *watcher) report(err error) {
	reason := classify(err)
	if err != nil && reason == "" {
		return // handled by the reflector (a relist), or a stop
	}
	var msg string
	if err != nil {
		msg = err.Error()
	}
	w.mu.Lock()
	prev, prevMsg := w.reason, w.msg
	if err == nil {
		w.reason, w.msg, w.lastSuccess = "", "", w.clock.Now()
	} else {
		w.reason, w.msg = reason, msg
		w.errors[reason]++
	}
	w.mu.Unlock()
	// Once per change, not per retry: a forbidden namespace is retried every few seconds.
	switch {
	case err != nil && (reason != prev || msg != prevMsg):
		w.log.Warn("kubernetes watch failing", "namespace", w.namespace, "resource", w.res.String(), "reason", reason, "err", err)
	case err == nil && prev != "":
		w.log.Info("kubernetes watch working again", "namespace", w.namespace, "resource", w.res.String())
	}
	w.changed()
}

// apiNamespace is the namespace of the API calls: "" for the whole cluster.
func (w *watcher) apiNamespace() string {
	if w.namespace == allNamespaces {
		return ""
	}
	return w.namespace
}

// List is a page of objects. It is never asked at resource version "0": the API server's
// watch cache answers that with every object at once, ignoring the page size.
func (w *watcher) List(opts metav1.ListOptions) (runtime.Object, error) {
	return w.ListWithContext(context.Background(), opts)
}

// errUnpaged answers the one unpaged LIST the reflector's pager asks for: its fallback when
// a continue token expired (a list that outlived etcd's compaction), a response holding every
// Secret with its data. The expiry makes the reflector list again from the first page.
var errUnpaged = apierrors.NewResourceExpired("an unpaged list is not asked for: listing again page by page")

func (w *watcher) ListWithContext(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
	if opts.Limit == 0 {
		return nil, errUnpaged
	}
	if opts.ResourceVersion == "0" {
		opts.ResourceVersion = ""
	}
	l, err := w.res.list(ctx, w.apiNamespace(), opts)
	w.report(err)
	return l, err
}

func (w *watcher) Watch(opts metav1.ListOptions) (watch.Interface, error) {
	return w.WatchWithContext(context.Background(), opts)
}

// WatchWithContext keeps what the resource keeps of each object as it arrives. An error in
// the stream (the rights revoked, the version expired) is reported here: the reflector only
// ends the watch and starts another.
func (w *watcher) WatchWithContext(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	in, err := w.res.watch(ctx, w.apiNamespace(), opts)
	w.report(err)
	if err != nil {
		return nil, err
	}
	k := &keptWatch{in: in, out: make(chan watch.Event), stop: make(chan struct{})}
	if u := w.verdictsUntil(); !u.IsZero() {
		k.relist = w.clock.After(u.Sub(w.clock.Now()))
	}
	go k.run(func(ev watch.Event) watch.Event {
		if ev.Type == watch.Error {
			w.report(apierrors.FromObject(ev.Object))
		} else {
			ev.Object = w.res.keep(ev)
		}
		return ev
	})
	return k, nil
}

// verdictsUntil is the first validity bound of the kept Secrets' (and ConfigMaps') chains:
// their verdicts were made when the objects arrived, without their data kept to check them
// again.
func (w *watcher) verdictsUntil() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	var t time.Time
	for _, o := range w.items {
		if v, ok := o.(verdicts); ok {
			if u := v.verdictsUntil(); !u.IsZero() && (t.IsZero() || u.Before(t)) {
				t = u
			}
		}
	}
	return t
}

// verdicts is a kept object whose chains were verified on arrival: objectCerts, objectCerts.
type verdicts interface {
	// verdictsUntil is the first validity bound of its chains after the parse (zero: none):
	// their verdicts hold until then.
	verdictsUntil() time.Time
}

// errVerdictsStale ends a watch once a kept chain's verdict may have changed (a certificate in
// it expired or became valid): like any expired watch it makes the reflector list again, and
// the Secrets are parsed anew. Each watch (5 to 10 minutes) looks at the bound again.
var errVerdictsStale = apierrors.NewResourceExpired("a certificate's validity bound passed: listing again to verify the chains anew")

// keptWatch passes the events of a watch through keep. Unlike watch.Filter, it ends when
// stopped: the reflector stops reading before it stops the watch (a restart, a reload, the
// source's end), and watch.Filter's goroutine would wait forever to hand over an event it had
// taken, holding the watcher and every object it keeps.
type keptWatch struct {
	in       watch.Interface
	out      chan watch.Event
	stop     chan struct{}
	stopOnce sync.Once
	// relist fires at the kept chains' first validity bound (nil: none): see errVerdictsStale.
	relist <-chan time.Time
}

func (k *keptWatch) ResultChan() <-chan watch.Event { return k.out }

func (k *keptWatch) Stop() {
	k.stopOnce.Do(func() {
		close(k.stop)
		k.in.Stop()
	})
}

func (k *keptWatch) run(keep func(watch.Event) watch.Event) {
	defer close(k.out)
	for {
		select {
		case ev, ok := <-k.in.ResultChan():
			if !ok {
				return
			}
			select {
			case k.out <- keep(ev):
			case <-k.stop:
				return
			}
		case <-k.relist:
			select {
			case k.out <- watch.Event{Type: watch.Error, Object: &errVerdictsStale.ErrStatus}:
			case <-k.stop:
			}
			return
		case <-k.stop:
			return
		}
	}
}

// IsWatchListSemanticsUnSupported keeps the reflector on paged LISTs: a streaming watch-list
// would gather every object, Secrets with their data, in a temporary store before handing
// them over.
func (w *watcher) IsWatchListSemanticsUnSupported() bool { return true }

// objectCertsList is a LIST page of Secrets or ConfigMaps as the reflector sees it: the page's
// objects parsed, their data already dropped.
type objectCertsList struct {
	metav1.TypeMeta
	metav1.ListMeta
	Items []*objectCerts
}

// DeepCopyObject returns l: it is never modified.
func (l *objectCertsList) DeepCopyObject() runtime.Object { return l }

// secrets are the Secrets of one type, parsed as they arrive.
type secrets struct {
	typ string
	// selector is the field selector: the type, and the excluded namespaces.
	selector string
	client   apiResource
	parser   *parser
}

func (r *secrets) String() string { return r.typ + " Secrets" }

func (r *secrets) name() string { return "secrets" }

func (r *secrets) expected() runtime.Object { return &objectCerts{} }

func (r *secrets) list(ctx context.Context, namespace string, opts metav1.ListOptions) (runtime.Object, error) {
	opts.FieldSelector = r.selector
	l := &corev1.SecretList{}
	if err := r.client.list(ctx, namespace, opts, l); err != nil {
		return nil, err
	}
	out := &objectCertsList{ListMeta: l.ListMeta, Items: make([]*objectCerts, len(l.Items))}
	for i := range l.Items {
		out.Items[i] = r.parser.parse(&l.Items[i])
	}
	return out, nil
}

func (r *secrets) watch(ctx context.Context, namespace string, opts metav1.ListOptions) (watch.Interface, error) {
	opts.FieldSelector = r.selector
	return r.client.watch(ctx, namespace, opts)
}

// keep parses an added or modified Secret; a deletion or a bookmark keeps only the name and
// version.
func (r *secrets) keep(ev watch.Event) runtime.Object {
	s, ok := ev.Object.(*corev1.Secret)
	switch {
	case !ok:
		return ev.Object
	case ev.Type == watch.Added || ev.Type == watch.Modified:
		return r.parser.parse(s)
	}
	return meta(s)
}

// namespaces are the namespaces matching a label selector, kept by name alone: the watches
// of the Secrets follow them.
type namespaces struct {
	labels string
	// fields is the field selector: the excluded namespaces.
	fields string
	client apiResource
}

func (r *namespaces) String() string { return "namespaces labelled " + r.labels }

func (r *namespaces) name() string { return namespacesResource }

// namespacesResource is the `resource` label of the namespace watch's errors.
const namespacesResource = "namespaces"

func (r *namespaces) expected() runtime.Object { return &corev1.Namespace{} }

func (r *namespaces) list(ctx context.Context, _ string, opts metav1.ListOptions) (runtime.Object, error) {
	opts.LabelSelector, opts.FieldSelector = r.labels, r.fields
	l := &corev1.NamespaceList{}
	if err := r.client.list(ctx, "", opts, l); err != nil {
		return nil, err
	}
	for i := range l.Items {
		l.Items[i] = *nameOnly(&l.Items[i])
	}
	return l, nil
}

// watch sees a namespace relabelled out of the selector as deleted: the API server sends a
// DELETED event for an object that stops matching.
func (r *namespaces) watch(ctx context.Context, _ string, opts metav1.ListOptions) (watch.Interface, error) {
	opts.LabelSelector, opts.FieldSelector = r.labels, r.fields
	return r.client.watch(ctx, "", opts)
}

func (r *namespaces) keep(ev watch.Event) runtime.Object {
	if n, ok := ev.Object.(*corev1.Namespace); ok {
		return nameOnly(n)
	}
	return ev.Object
}

func nameOnly(n *corev1.Namespace) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n.Name, ResourceVersion: n.ResourceVersion}}
}

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

// The watcher is its reflector's store (cache.ReflectorStore).

func storeKey(o any) string {
	m, err := apimeta.Accessor(o)
	if err != nil {
		panic(err) // every resource keeps objects with metadata
	}
	return m.GetNamespace() + "/" + m.GetName()
}

func (w *watcher) Add(o any) error {
	w.mu.Lock()
	w.items[storeKey(o)] = o.(runtime.Object)
	w.mu.Unlock()
	w.changed()
	return nil
}

func (w *watcher) Update(o any) error { return w.Add(o) }

func (w *watcher) Delete(o any) error {
	w.mu.Lock()
	delete(w.items, storeKey(o))
	w.mu.Unlock()
	w.changed()
	return nil
}

func (w *watcher) Replace(list []any, _ string) error {
	items := make(map[string]runtime.Object, len(list))
	for _, o := range list {
		items[storeKey(o)] = o.(runtime.Object)
	}
	w.mu.Lock()
	w.items, w.synced = items, true
	w.mu.Unlock()
	w.changed()
	return nil
}

func (w *watcher) Resync() error { return nil }

// watcherState is a copy of what the snapshot reads.
type watcherState struct {
	items       []runtime.Object
	synced      bool
	reason, msg string
	lastSuccess time.Time
	errors      map[string]uint64
}

func (w *watcher) state() watcherState {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := watcherState{synced: w.synced, reason: w.reason, msg: w.msg,
		lastSuccess: w.lastSuccess, errors: maps.Clone(w.errors), items: make([]runtime.Object, 0, len(w.items))}
	for _, o := range w.items {
		st.items = append(st.items, o)
	}
	return st
}
