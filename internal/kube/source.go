package kube

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
)

// statusSource names the source in source_up and errors_total.
const statusSource = "kubernetes"

// allNamespaces is the namespace label (and source_up name) of the cluster-wide watch.
const allNamespaces = "*"

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
// included namespace, or per type for the whole cluster.
type Source struct {
	cfg   *config.Kubernetes
	log   *slog.Logger
	clock clockwork.Clock
	// pageSize is the LIST page size (defaultPageSize; tests page a few Secrets).
	pageSize int64
}

// namespaces are the watches' namespaces: each included one, else the whole cluster.
func (s *Source) namespaces() []string {
	if len(s.cfg.Namespaces.Include) > 0 {
		return s.cfg.Namespaces.Include
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
	ws, err := s.watchers()
	if err != nil {
		s.log.Error("kubernetes source not started", "err", err)
		snap := s.failed(err)
		publish(snap)
		<-ctx.Done()
		return snap
	}
	changed := make(chan struct{}, 1)
	for _, w := range ws {
		// A burst of events (a relist) makes one snapshot once the loop below is free.
		w.changed = func() {
			select {
			case changed <- struct{}{}:
			default:
			}
		}
	}
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(func() { w.run(ctx) })
	}
	defer wg.Wait()
	published := false
	for {
		select {
		case <-ctx.Done():
			snap, _ := s.snapshot(ws)
			return snap
		case <-changed:
		}
		snap, settled := s.snapshot(ws)
		if published || settled {
			published = true
			publish(snap)
		}
	}
}

// watchers makes the source's watches with its API client.
func (s *Source) watchers() ([]*watcher, error) {
	rc, err := RESTConfig(s.cfg.Kubeconfig)
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	p := &parser{cfg: s.cfg, now: s.clock.Now}
	if f := s.cfg.Secrets.PKCS12PasswordFile; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("kubernetes.secrets.pkcs12_password_file: %w", err)
		}
		p.password = strings.TrimRight(string(b), "\r\n")
	}
	var ws []*watcher
	for _, ns := range s.namespaces() {
		for _, typ := range s.cfg.Secrets.Types {
			sel := []fields.Selector{fields.OneTermEqualSelector("type", typ)}
			apiNS := ns
			if ns == allNamespaces {
				apiNS = ""
				// Left out by the API server, so their Secrets are never sent.
				for _, ex := range s.cfg.Namespaces.Exclude {
					sel = append(sel, fields.OneTermNotEqualSelector("metadata.namespace", ex))
				}
			}
			ws = append(ws, &watcher{namespace: ns, typ: typ, selector: fields.AndSelectors(sel...).String(),
				secrets: cs.CoreV1().Secrets(apiNS), pageSize: s.pageSize, parser: p, now: s.clock.Now, log: s.log,
				items: map[string]*secretCerts{}, errors: source.NewErrors(ErrorReasons...)})
		}
	}
	return ws, nil
}

// failed is the snapshot of a source whose client could not be made: every watch is down.
func (s *Source) failed(err error) *source.Snapshot {
	var watchErrs []watchError
	snap := &source.Snapshot{}
	for _, ns := range s.namespaces() {
		errs := source.NewErrors(ErrorReasons...)
		errs[reasonConfig]++
		snap.Status = append(snap.Status, source.Status{Source: statusSource, Name: ns, Errors: errs, Error: err.Error()})
		watchErrs = append(watchErrs, watchError{ns, reasonConfig})
	}
	snap.Problems = []source.Problem{{Source: certs.SourceKubernetes, Where: "kubernetes", Reason: reasonConfig, Message: err.Error()}}
	snap.Metrics = metrics(watchErrs, nil)
	return snap
}

// watchError is one failing watch, a series of cert_expiry_exporter_kubernetes_watch_error.
type watchError struct{ namespace, reason string }

// secretKeyError is one Secret key without a usable certificate, a series of
// cert_expiry_exporter_kubernetes_secret_error.
type secretKeyError struct{ namespace, secret, key, reason string }

// snapshot renders the watches' current state, and says whether every watch has listed or
// failed (the first publish waits for that).
func (s *Source) snapshot(ws []*watcher) (*source.Snapshot, bool) {
	snap := &source.Snapshot{}
	settled := true
	status := map[string]*source.Status{}
	var watchErrs []watchError
	var secretErrs []secretKeyError
	for _, w := range ws {
		st := w.state()
		settled = settled && (st.synced || st.reason != "")
		ns := status[w.namespace]
		if ns == nil {
			ns = &source.Status{Source: statusSource, Name: w.namespace, Up: true, LastSuccess: st.lastSuccess, Errors: source.NewErrors(ErrorReasons...)}
			status[w.namespace] = ns
		}
		// A namespace is up when each of its watches (one per type) is; it last worked when
		// the least recent of them did.
		ns.Up = ns.Up && st.synced && st.reason == ""
		if st.lastSuccess.Before(ns.LastSuccess) {
			ns.LastSuccess = st.lastSuccess
		}
		for r, n := range st.errors {
			ns.Errors[r] += n
		}
		where := w.typ + " Secrets in namespace " + w.namespace
		switch {
		case st.reason != "":
			// Why the namespace is down, as logged: the first of its failing watches.
			ns.Error = cmp.Or(ns.Error, st.msg)
			if !slices.Contains(watchErrs, watchError{w.namespace, st.reason}) {
				watchErrs = append(watchErrs, watchError{w.namespace, st.reason})
			}
			snap.Problems = append(snap.Problems, source.Problem{Source: certs.SourceKubernetes, Where: where, Reason: st.reason, Message: st.msg})
		case !st.synced:
			snap.Problems = append(snap.Problems, source.Problem{Source: certs.SourceKubernetes, Where: where, Reason: reasonUnavailable, Message: "not listed yet"})
		}
		for _, sc := range st.items {
			snap.Chains = append(snap.Chains, sc.chains...)
			for _, e := range sc.errs {
				secretErrs = append(secretErrs, secretKeyError{sc.Namespace, sc.Name, e.Key, e.Reason})
				snap.Problems = append(snap.Problems, source.Problem{Source: certs.SourceKubernetes,
					Where: sc.Namespace + "/" + sc.Name + "/" + e.Key, Reason: e.Reason, Message: e.Message})
			}
		}
	}
	for _, ns := range s.namespaces() {
		snap.Status = append(snap.Status, *status[ns])
	}
	slices.SortFunc(snap.Chains, func(a, b certs.Chain) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Secret, b.Secret), cmp.Compare(a.Key, b.Key))
	})
	slices.SortFunc(snap.Problems, func(a, b source.Problem) int { return cmp.Compare(a.Where, b.Where) })
	snap.Metrics = metrics(watchErrs, secretErrs)
	return snap, settled
}

var (
	watchErrorDesc = prometheus.NewDesc("cert_expiry_exporter_kubernetes_watch_error",
		"1 per namespace (* for the cluster-wide watch) whose Secrets cannot be listed or watched, with the reason.",
		[]string{"namespace", "reason"}, nil)
	secretErrorDesc = prometheus.NewDesc("cert_expiry_exporter_kubernetes_secret_error",
		"1 per Secret key that holds no usable certificate, with the reason.",
		[]string{"namespace", "secret", "key", "reason"}, nil)
)

// metrics emits the source's error series; nil when there is none.
func metrics(watchErrs []watchError, secretErrs []secretKeyError) func(chan<- prometheus.Metric) {
	if len(watchErrs) == 0 && len(secretErrs) == 0 {
		return nil
	}
	return func(ch chan<- prometheus.Metric) {
		for _, e := range watchErrs {
			ch <- prometheus.MustNewConstMetric(watchErrorDesc, prometheus.GaugeValue, 1, e.namespace, e.reason)
		}
		for _, e := range secretErrs {
			ch <- prometheus.MustNewConstMetric(secretErrorDesc, prometheus.GaugeValue, 1, e.namespace, e.secret, e.key, e.reason)
		}
	}
}
