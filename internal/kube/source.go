package kube

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/inventory"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
)

// statusSource names the source in source_up and errors_total.
const statusSource = "kubernetes"

// allNamespaces is the namespace label (and source_up name) of the cluster-wide watch.
const allNamespaces = "*"

// namespacesStatus prefixes the label selector in the source_up name of the namespace watch
// (a namespace name has no slash).
const namespacesStatus = "namespaces/"

// Factory is the `kubernetes:` source.
var Factory = source.Factory{
	Name: "kubernetes",
	Part: func(cfg *config.Config) (any, bool) {
		return cfg.Kubernetes, cfg.Kubernetes != nil
	},
	New: func(cfg *config.Config, env source.Env) source.Source {
		return &Source{cfg: cfg.Kubernetes, log: env.Logger, clock: env.Clock, pageSize: defaultPageSize}
	},
}

// Source follows the TLS Secrets of a cluster: one reflector (LIST+WATCH) per Secret type and
// included namespace (or namespace matching namespaces.label_selector, which one more reflector
// watches), or per type for the whole cluster; with configmaps, one more for the ConfigMaps of
// each.
type Source struct {
	cfg   *config.Kubernetes
	log   *slog.Logger
	clock clockwork.Clock
	// pageSize is the LIST page size (defaultPageSize; tests page a few Secrets).
	pageSize int64
}

// namespaces are the watches' namespaces: each included one, else the whole cluster.
func (s *Source) namespaces() []string { return namespacesOf(s.cfg) }

func namespacesOf(cfg *config.Kubernetes) []string {
	if len(cfg.Namespaces.Include) > 0 {
		return cfg.Namespaces.Include
	}
	return []string{allNamespaces}
}

// Run follows the Secrets and publishes once every watch has listed (or failed), then after
// every change.
func (s *Source) Run(ctx context.Context, publish func(*source.Snapshot)) {
	s.run(ctx, publish)
}

// Once lists the Secrets once and returns what it found; a watch that did not list before ctx
// ended is a problem.
func (s *Source) Once(ctx context.Context) *source.Snapshot {
	// The first publish is the settled state: it ends the run, whose last state is then
	// at least as recent.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	return s.run(ctx, func(*source.Snapshot) { cancel() })
}

// run runs the watches until ctx ends and returns the snapshot of their last state.
func (s *Source) run(ctx context.Context, publish func(*source.Snapshot)) *source.Snapshot {
	c, err := s.client()
	if err != nil {
		s.log.Error("kubernetes source not started", "err", err)
		snap := s.failed(err)
		publish(snap)
		<-ctx.Done()
		return snap
	}
	var nsw *watcher
	if sel := s.cfg.Namespaces.LabelSelector; sel != "" {
		nsw = c.namespaceWatcher(sel)
	}
	ws := followNamespaces(ctx, s.cfg, nsw, c.watchers)
	defer ws.wait()
	published := false
	for {
		select {
		case <-ctx.Done():
			snap, _ := s.snapshot(ws.all())
			return snap
		case <-ws.changed:
		}
		snap, settled := s.snapshot(ws.all())
		if ws.update() {
			ws.signal() // the snapshot lacks the namespaces now followed, or has those dropped
			continue
		}
		if published || settled {
			published = true
			publish(snap)
		}
	}
}

// namespaceWatches are the running watches of a section's namespaces: those of each included
// namespace (or of the whole cluster), or with namespaces.label_selector those of each
// namespace the namespace watch holds, started when it matches and stopped, its objects
// dropped at once, when it is relabelled out. The Secrets, Ingresses and Gateways follow the
// same namespaces with it.
type namespaceWatches struct {
	ctx context.Context
	cfg *config.Kubernetes
	nsw *watcher // the namespace watch; nil without a label selector
	// of makes the watches of a namespace.
	of     func(ns string) []*watcher
	groups map[string]*group // by namespace
	// changed is signalled after every change of a watch (a burst of events, a relist, makes
	// one signal once its reader is free).
	changed chan struct{}
	wg      sync.WaitGroup
}

// followNamespaces starts the namespace watch nsw (nil: none, the configured namespaces are
// followed) or the watches of the configured namespaces; they run until ctx ends.
func followNamespaces(ctx context.Context, cfg *config.Kubernetes, nsw *watcher, of func(ns string) []*watcher) *namespaceWatches {
	n := &namespaceWatches{ctx: ctx, cfg: cfg, nsw: nsw, of: of, groups: map[string]*group{}, changed: make(chan struct{}, 1)}
	if nsw != nil {
		n.start(ctx, []*watcher{nsw})
	} else {
		n.follow(namespacesOf(cfg))
	}
	return n
}

func (n *namespaceWatches) signal() {
	select {
	case n.changed <- struct{}{}:
	default:
	}
}

func (n *namespaceWatches) start(ctx context.Context, ws []*watcher) {
	for _, w := range ws {
		w.changed = n.signal
		n.wg.Go(func() { w.run(ctx) })
	}
}

// follow runs the watches of names, and stops those of the namespaces not in it; it says
// whether it started or stopped any.
func (n *namespaceWatches) follow(names []string) bool {
	changed := false
	for ns, g := range n.groups {
		if !slices.Contains(names, ns) {
			g.stop()
			delete(n.groups, ns)
			changed = true
		}
	}
	for _, ns := range names {
		if n.groups[ns] == nil {
			gctx, cancel := context.WithCancel(n.ctx)
			g := &group{ws: n.of(ns), stop: cancel}
			n.start(gctx, g.ws)
			n.groups[ns] = g
			changed = true
		}
	}
	return changed
}

// update follows the namespaces the namespace watch holds now, and says whether that started or
// stopped a namespace's watches. Called after each signal, after reading the watches' state:
// the namespace watch may have listed in between, and a state read before a change has the
// namespace watch settled without its namespaces' watches.
func (n *namespaceWatches) update() bool {
	return n.nsw != nil && n.follow(selected(n.cfg, n.nsw))
}

// all are the running watches: the namespace watch, if any, then each namespace's, in
// namespace order.
func (n *namespaceWatches) all() []*watcher {
	var ws []*watcher
	if n.nsw != nil {
		ws = append(ws, n.nsw)
	}
	for _, ns := range slices.Sorted(maps.Keys(n.groups)) {
		ws = append(ws, n.groups[ns].ws...)
	}
	return ws
}

// wait waits for the watches' end, once ctx has ended.
func (n *namespaceWatches) wait() { n.wg.Wait() }

// group is the watches of one namespace (or the whole cluster).
type group struct {
	ws   []*watcher
	stop context.CancelFunc
}

// selected are the namespaces the namespace watch holds (those matching the label selector,
// less the excluded ones), and of those only the included ones when include is set too.
func selected(cfg *config.Kubernetes, nsw *watcher) []string {
	var out []string
	for _, o := range nsw.state().items {
		n := o.(*corev1.Namespace).Name
		if inc := cfg.Namespaces.Include; len(inc) == 0 || slices.Contains(inc, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// client makes what the watches share: the API clients and the Secret parser.
func (s *Source) client() (*client, error) {
	rc, err := RESTConfig(s.cfg.Kubeconfig)
	if err != nil {
		return nil, err
	}
	c := &client{src: s, parser: &parser{cfg: s.cfg, now: s.clock.Now}}
	if c.api, err = newAPIClients(rc); err != nil {
		return nil, err
	}
	if f := s.cfg.Secrets.PKCS12PasswordFile; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("kubernetes.secrets.pkcs12_password_file: %w", err)
		}
		c.parser.password = strings.TrimRight(string(b), "\r\n")
	}
	if s.cfg.CertManager != nil {
		if c.dyn, err = dynamic.NewForConfig(rc); err != nil {
			return nil, fmt.Errorf("kubernetes: %w", err)
		}
	}
	return c, nil
}

type client struct {
	src    *Source
	api    *apiClients
	dyn    dynamic.Interface
	parser *parser
}

func (c *client) watcher(ns, status string, res resource) *watcher {
	s := c.src
	return newWatcher(ns, status, res, s.pageSize, s.clock, s.log)
}

// excluded is the field selector of the excluded namespaces on field (metadata.namespace of
// namespaced objects, metadata.name of namespaces): the API server leaves their objects out,
// so they are never sent.
func (c *client) excluded(field string) []fields.Selector { return excluded(c.src.cfg, field) }

func excluded(cfg *config.Kubernetes, field string) []fields.Selector {
	var sel []fields.Selector
	for _, ex := range cfg.Namespaces.Exclude {
		sel = append(sel, fields.OneTermNotEqualSelector(field, ex))
	}
	return sel
}

// watchers are the watches of namespace ns (or the whole cluster): one per Secret type, with
// cert_manager one per cert-manager resource, and with configmaps one of the ConfigMaps.
func (c *client) watchers(ns string) []*watcher {
	cfg := c.src.cfg
	var sel []fields.Selector
	if ns == allNamespaces {
		sel = c.excluded("metadata.namespace")
	}
	var ws []*watcher
	for _, typ := range cfg.Secrets.Types {
		typeSel := append([]fields.Selector{fields.OneTermEqualSelector("type", typ)}, sel...)
		ws = append(ws, c.watcher(ns, ns, &secrets{typ: typ, selector: fields.AndSelectors(typeSel...).String(), client: c.api.secrets(), parser: c.parser}))
	}
	if cm := cfg.CertManager; cm != nil {
		for _, res := range certManagerResources(c.dyn, fields.AndSelectors(sel...).String(), *cm.ACME) {
			ws = append(ws, c.watcher(ns, certManagerStatus+ns, res))
		}
	}
	if cm := cfg.ConfigMaps; cm != nil {
		ws = append(ws, c.watcher(ns, configMapStatus+ns, &configMaps{labels: cm.LabelSelector,
			fields: fields.AndSelectors(sel...).String(), client: c.api.configMaps(), parser: c.parser}))
	}
	return ws
}

// namespaceWatcher watches the namespaces matching the label selector, less the excluded ones.
func (c *client) namespaceWatcher(labelSelector string) *watcher {
	return c.watcher(allNamespaces, namespacesStatus+labelSelector, newNamespaces(c.src.cfg, c.api.namespaces()))
}

// newNamespaces are the namespaces the section's label selector selects, less the excluded ones.
func newNamespaces(cfg *config.Kubernetes, client apiResource) *namespaces {
	return &namespaces{labels: cfg.Namespaces.LabelSelector, fields: fields.AndSelectors(excluded(cfg, "metadata.name")...).String(), client: client}
}

// statusNames are the source_up names of the source's watches, in order; with a label
// selector only the namespace watch's, the others come and go with the namespaces.
func (s *Source) statusNames() []string {
	if sel := s.cfg.Namespaces.LabelSelector; sel != "" {
		return []string{namespacesStatus + sel}
	}
	var out []string
	for _, ns := range s.namespaces() {
		out = append(out, ns)
		if s.cfg.CertManager != nil {
			out = append(out, certManagerStatus+ns)
		}
		if s.cfg.ConfigMaps != nil {
			out = append(out, configMapStatus+ns)
		}
	}
	return out
}

// failed is the snapshot of a source whose client could not be made: every watch is down.
func (s *Source) failed(err error) *source.Snapshot {
	var watchErrs []watchError
	snap := &source.Snapshot{}
	for _, name := range s.statusNames() {
		errs := source.NewErrors(ErrorReasons...)
		errs[reasonConfig]++
		snap.Status = append(snap.Status, source.Status{Source: statusSource, Name: name, Errors: errs, Error: err.Error()})
	}
	if s.cfg.Namespaces.LabelSelector != "" {
		watchErrs = append(watchErrs, watchError{allNamespaces, namespacesResource, reasonConfig})
	} else {
		for _, ns := range s.namespaces() {
			watchErrs = append(watchErrs, watchError{ns, "secrets", reasonConfig})
			if s.cfg.ConfigMaps != nil {
				watchErrs = append(watchErrs, watchError{ns, "configmaps", reasonConfig})
			}
		}
	}
	snap.Problems = []source.Problem{{Source: certs.SourceKubernetes, Where: "kubernetes", Reason: reasonConfig, Message: err.Error()}}
	snap.Metrics = metrics(watchErrs, nil, nil, nil)
	return snap
}

// watchError is one failing watch, a series of cert_expiry_exporter_kubernetes_watch_error.
type watchError struct{ namespace, resource, reason string }

// secretKeyError is one Secret key without a usable certificate, a series of
// cert_expiry_exporter_kubernetes_secret_error (or, of a ConfigMap, of
// cert_expiry_exporter_kubernetes_configmap_error, secret its name).
type secretKeyError struct{ namespace, secret, key, reason string }

// snapshot renders the watches' current state (namespaceWatches.all), and says whether every watch has listed or failed (the first publish waits
// for that).
func (s *Source) snapshot(ws []*watcher) (*source.Snapshot, bool) {
	snap := &source.Snapshot{}
	h := watchHealth(ws)
	snap.Status, snap.Problems = h.status, h.problems
	var secretErrs, configMapErrs []secretKeyError
	cm := map[string][]*unstructured.Unstructured{} // cert-manager's objects by resource
	// Sized first: built by append, 20k Secrets' chains are 8 MB in the end and as much again
	// in the slices they outgrew, at the moment the heap is largest (the sync's end).
	n := 0
	for _, items := range h.items {
		for _, o := range items {
			if o, ok := o.(*objectCerts); ok {
				n += len(o.chains)
			}
		}
	}
	if n > 0 {
		snap.Chains = make([]certs.Chain, 0, n)
	}
	for i, w := range ws {
		for _, o := range h.items[i] {
			switch o := o.(type) {
			case *objectCerts:
				snap.Chains = append(snap.Chains, o.chains...)
				for _, e := range o.errs {
					k, where := secretKeyError{o.Namespace, o.Name, e.Key, e.Reason}, o.Namespace+"/"+o.Name+"/"+e.Key
					if o.configMap {
						configMapErrs, where = append(configMapErrs, k), inventory.ConfigMapPlace(o.Namespace, o.Name, e.Key)
					} else {
						secretErrs = append(secretErrs, k)
					}
					snap.Problems = append(snap.Problems, source.Problem{Source: certs.SourceKubernetes,
						Where: where, Reason: e.Reason, Message: e.Message})
				}
			case *unstructured.Unstructured:
				cm[w.res.name()] = append(cm[w.res.name()], o)
			}
		}
	}
	var crtErrs []certificateError
	if s.cfg.CertManager != nil {
		var problems []source.Problem
		snap.Renewals, problems, crtErrs = renewals(cm[certificatesGVR.Resource], cm[ordersGVR.Resource], cm[challengesGVR.Resource])
		snap.Problems = append(snap.Problems, problems...)
	}
	slices.SortFunc(snap.Chains, func(a, b certs.Chain) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Secret, b.Secret), cmp.Compare(a.ConfigMap, b.ConfigMap), cmp.Compare(a.Key, b.Key))
	})
	slices.SortFunc(snap.Problems, func(a, b source.Problem) int { return cmp.Compare(a.Where, b.Where) })
	snap.Metrics = metrics(h.watchErrs, secretErrs, configMapErrs, crtErrs)
	return snap, h.settled
}

// health is the state of a source's watches.
type health struct {
	// status has one entry per source_up name, in the watches' order.
	status    []source.Status
	problems  []source.Problem
	watchErrs []watchError
	// settled: every watch has listed or failed (the first publish waits for that).
	settled bool
	// items are the objects each watch keeps, in the watches' order.
	items [][]runtime.Object
}

// watchHealth reads the watches' state.
func watchHealth(ws []*watcher) health {
	h := health{settled: true}
	var names []string // source_up names, in the watches' order
	status := map[string]*source.Status{}
	for _, w := range ws {
		st := w.state()
		h.items = append(h.items, st.items)
		h.settled = h.settled && (st.synced || st.reason != "")
		ns := status[w.status]
		if ns == nil {
			ns = &source.Status{Source: statusSource, Name: w.status, Up: true, LastSuccess: st.lastSuccess, Errors: source.NewErrors(ErrorReasons...)}
			status[w.status] = ns
			names = append(names, w.status)
		}
		// A namespace is up when each of its watches (one per Secret type, or per cert-manager
		// resource) is; it last worked when the least recent of them did.
		ns.Up = ns.Up && st.synced && st.reason == ""
		if st.lastSuccess.Before(ns.LastSuccess) {
			ns.LastSuccess = st.lastSuccess
		}
		for r, n := range st.errors {
			ns.Errors[r] += n
		}
		switch {
		case st.reason != "":
			// Why the namespace is down, as logged: the first of its failing watches.
			ns.Error = cmp.Or(ns.Error, st.msg)
			if e := (watchError{w.namespace, w.res.name(), st.reason}); !slices.Contains(h.watchErrs, e) {
				h.watchErrs = append(h.watchErrs, e)
			}
			h.problems = append(h.problems, source.Problem{Source: certs.SourceKubernetes, Where: w.where(), Reason: st.reason, Message: st.msg})
		case !st.synced:
			h.problems = append(h.problems, source.Problem{Source: certs.SourceKubernetes, Where: w.where(), Reason: reasonUnavailable, Message: "not listed yet"})
		}
	}
	for _, name := range names {
		h.status = append(h.status, *status[name])
	}
	return h
}

var (
	watchErrorDesc = prometheus.NewDesc("cert_expiry_exporter_kubernetes_watch_error",
		"1 per namespace (* for the cluster-wide watch) and resource (secrets, configmaps, namespaces, ingresses, gateways, certificates, orders, challenges) that cannot be listed or watched, with the reason.",
		[]string{"namespace", "resource", "reason"}, nil)
	secretErrorDesc = prometheus.NewDesc("cert_expiry_exporter_kubernetes_secret_error",
		"1 per Secret key that holds no usable certificate, with the reason.",
		[]string{"namespace", "secret", "key", "reason"}, nil)
	configMapErrorDesc = prometheus.NewDesc("cert_expiry_exporter_kubernetes_configmap_error",
		"1 per ConfigMap key that holds no CA certificate, with the reason.",
		[]string{"namespace", "configmap", "key", "reason"}, nil)
	certificateErrorDesc = prometheus.NewDesc("cert_expiry_exporter_kubernetes_certificate_error",
		"1 per cert-manager Certificate whose status cannot be read, with the reason.",
		[]string{"namespace", "certificate", "reason"}, nil)
)

// metrics emits the source's error series; nil when there is none.
func metrics(watchErrs []watchError, secretErrs, configMapErrs []secretKeyError, crtErrs []certificateError) func(chan<- prometheus.Metric) {
	if len(watchErrs) == 0 && len(secretErrs) == 0 && len(configMapErrs) == 0 && len(crtErrs) == 0 {
		return nil
	}
	return func(ch chan<- prometheus.Metric) {
		for _, e := range watchErrs {
			ch <- prometheus.MustNewConstMetric(watchErrorDesc, prometheus.GaugeValue, 1, e.namespace, e.resource, e.reason)
		}
		for _, e := range secretErrs {
			ch <- prometheus.MustNewConstMetric(secretErrorDesc, prometheus.GaugeValue, 1, e.namespace, e.secret, e.key, e.reason)
		}
		for _, e := range configMapErrs {
			ch <- prometheus.MustNewConstMetric(configMapErrorDesc, prometheus.GaugeValue, 1, e.namespace, e.secret, e.key, e.reason)
		}
		for _, e := range crtErrs {
			ch <- prometheus.MustNewConstMetric(certificateErrorDesc, prometheus.GaugeValue, 1, e.namespace, e.name, reasonStatus)
		}
	}
}
