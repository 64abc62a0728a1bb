package kube

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
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

// Reasons are those of the source's problems: a failing list or watch (ErrorReasons) and a
// Secret key without a usable certificate (cert_expiry_exporter_kubernetes_secret_error). The
// /certificates page links a runbook section for each.
var Reasons = append(slices.Clone(ErrorReasons), "parse", "empty", "password", reasonTooLarge)

// defaultPageSize is the LIST page: a full list never holds more than one page of Secrets with
// their data (each page is parsed and its data dropped before the next is asked for).
const defaultPageSize = 500

// backoff is the reflectors' retry after a failed list or watch: an API server that comes
// back is seen within seconds (client-go's cap is 30s), at one request per watch per cap
// while it is away.
var backoff = wait.Backoff{Duration: 500 * time.Millisecond, Cap: 5 * time.Second, Steps: 1 << 30, Factor: 2, Jitter: 0.5}

// secretCertsList is a LIST page as the reflector sees it: the page's Secrets parsed, their
// data already dropped.
type secretCertsList struct {
	metav1.TypeMeta
	metav1.ListMeta
	Items []*secretCerts
}

// DeepCopyObject returns l: it is never modified.
func (l *secretCertsList) DeepCopyObject() runtime.Object { return l }

// watcher is one reflector: the Secrets of one type in one namespace (or the whole cluster),
// those it keeps and the outcome of its latest list or watch call. The reflector calls
// it from its goroutine; the snapshot reads it from another.
type watcher struct {
	namespace string // allNamespaces: the whole cluster
	typ       string // the Secret type
	selector  string // the field selector: the type, and the excluded namespaces
	secrets   typedcorev1.SecretInterface
	pageSize  int64
	parser    *parser
	now       func() time.Time
	log       *slog.Logger
	changed   func() // called after every change; must not call back into the watcher

	mu          sync.Mutex
	items       map[string]*secretCerts // by namespace/name
	synced      bool                    // a list arrived
	reason, msg string                  // of the latest failure, "" once a call worked again
	lastSuccess time.Time
	errors      map[string]uint64
}

func (w *watcher) run(ctx context.Context) {
	b := backoff
	r := cache.NewReflectorWithOptions(w, &secretCerts{}, w, cache.ReflectorOptions{
		Name: w.typ + " Secrets in namespace " + w.namespace, Backoff: &b})
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
		w.reason, w.msg, w.lastSuccess = "", "", w.now()
	} else {
		w.reason, w.msg = reason, msg
		w.errors[reason]++
	}
	w.mu.Unlock()
	// Once per change, not per retry: a forbidden namespace is retried every few seconds.
	switch {
	case err != nil && (reason != prev || msg != prevMsg):
		w.log.Warn("kubernetes watch failing", "namespace", w.namespace, "type", w.typ, "reason", reason, "err", err)
	case err == nil && prev != "":
		w.log.Info("kubernetes watch working again", "namespace", w.namespace, "type", w.typ)
	}
	w.changed()
}

// List is a page of Secrets. It is never asked at resource version "0": the API server's
// watch cache answers that with every Secret at once, ignoring the page size.
func (w *watcher) List(opts metav1.ListOptions) (runtime.Object, error) {
	return w.ListWithContext(context.Background(), opts)
}

func (w *watcher) ListWithContext(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
	opts.FieldSelector = w.selector
	if opts.ResourceVersion == "0" {
		opts.ResourceVersion = ""
	}
	l, err := w.secrets.List(ctx, opts)
	w.report(err)
	if err != nil {
		return nil, err
	}
	out := &secretCertsList{ListMeta: l.ListMeta, Items: make([]*secretCerts, len(l.Items))}
	for i := range l.Items {
		out.Items[i] = w.parser.parse(&l.Items[i])
	}
	return out, nil
}

func (w *watcher) Watch(opts metav1.ListOptions) (watch.Interface, error) {
	return w.WatchWithContext(context.Background(), opts)
}

// WatchWithContext parses each Secret as it arrives; a deletion or a bookmark keeps only the
// name and version. An error in the stream (the rights revoked, the version expired) is
// reported here: the reflector only ends the watch and starts another.
func (w *watcher) WatchWithContext(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
	opts.FieldSelector = w.selector
	in, err := w.secrets.Watch(ctx, opts)
	w.report(err)
	if err != nil {
		return nil, err
	}
	return watch.Filter(in, func(ev watch.Event) (watch.Event, bool) {
		s, ok := ev.Object.(*corev1.Secret)
		switch {
		case ev.Type == watch.Error:
			w.report(apierrors.FromObject(ev.Object))
		case !ok:
		case ev.Type == watch.Added || ev.Type == watch.Modified:
			ev.Object = w.parser.parse(s)
		default:
			ev.Object = meta(s)
		}
		return ev, true
	}), nil
}

// IsWatchListSemanticsUnSupported keeps the reflector on paged LISTs: a streaming watch-list
// would gather every Secret, with its data, in a temporary store before handing them over.
func (w *watcher) IsWatchListSemanticsUnSupported() bool { return true }

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
	s := o.(*secretCerts)
	return s.Namespace + "/" + s.Name
}

func (w *watcher) Add(o any) error {
	w.mu.Lock()
	w.items[storeKey(o)] = o.(*secretCerts)
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
	items := make(map[string]*secretCerts, len(list))
	for _, o := range list {
		items[storeKey(o)] = o.(*secretCerts)
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
	items       []*secretCerts
	synced      bool
	reason, msg string
	lastSuccess time.Time
	errors      map[string]uint64
}

func (w *watcher) state() watcherState {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := watcherState{synced: w.synced, reason: w.reason, msg: w.msg,
		lastSuccess: w.lastSuccess, errors: make(map[string]uint64, len(w.errors)), items: make([]*secretCerts, 0, len(w.items))}
	for k, n := range w.errors {
		st.errors[k] = n
	}
	for _, s := range w.items {
		st.items = append(st.items, s)
	}
	return st
}
