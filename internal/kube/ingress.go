package kube

// The `kubernetes.ingresses:` source: the TLS hosts of the Ingresses are probe targets,
// dialled at the ingress controller (an Ingress's load balancer addresses, or one configured
// address), so that a controller still serving the certificate its Secret held before a
// renewal is cert_served_outdated. The probes are probe.Discovered's: the same code, bounds
// and series as configured targets.

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	typednetworkingv1 "k8s.io/client-go/kubernetes/typed/networking/v1"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/probe"
)

// ingressStatus prefixes the namespace in the source_up name of the Ingress watches.
const ingressStatus = "ingresses/"

// reasonNoAddress is an Ingress with TLS hosts but no address to dial them at (no
// status.loadBalancer.ingress yet, and no kubernetes.ingresses.address).
const reasonNoAddress = "no_address"

// reasonTooManyTargets is more TLS hosts than maxIngressTargets.
const reasonTooManyTargets = "too_many_targets"

// maxIngressTargets bounds the discovered targets (hosts): each is a probe every interval and
// a few series per address. The hosts after it, in name order, are not probed.
const maxIngressTargets = 1000

// Ingresses is the `kubernetes.ingresses:` source.
var Ingresses = source.Factory{
	Name: "kubernetes_ingresses",
	Part: func(cfg *config.Config) (any, bool) {
		k := cfg.Kubernetes
		if k == nil || k.Ingresses == nil {
			return nil, false
		}
		// The configured targets too: a host that is one of them is left to targets:.
		return struct {
			Kubeconfig string
			Namespaces config.KubeNamespaces
			Ingresses  config.KubeIngresses
			Targets    []config.Target
			Modules    map[string]config.Module
			Probe      config.Probe
		}{k.Kubeconfig, k.Namespaces, *k.Ingresses, cfg.Targets, cfg.Modules, cfg.Probe}, true
	},
	New: func(cfg *config.Config, env source.Env) source.Source {
		var prev any
		if env.Prev != nil {
			if st, ok := env.Prev.State.(*ingressState); ok {
				prev = st.probes
			}
		}
		return &IngressSource{cfg: cfg, log: env.Logger, clock: env.Clock, pageSize: defaultPageSize, probes: probe.NewDiscovered(cfg, env, prev)}
	},
}

// IngressSource follows the Ingresses of the section's namespaces (one reflector per
// namespace, or one for the cluster) and probes their TLS hosts.
type IngressSource struct {
	cfg      *config.Config
	log      *slog.Logger
	clock    clockwork.Clock
	pageSize int64
	probes   *probe.Discovered
}

// ingressState is the source's snapshot State: the probes' own, for the source replacing it.
type ingressState struct{ probes any }

func (s *IngressSource) watchers() ([]*watcher, error) {
	rc, err := RESTConfig(s.cfg.Kubernetes.Kubeconfig)
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	var ws []*watcher
	for _, ns := range namespacesOf(s.cfg.Kubernetes) {
		var sel []fields.Selector
		if ns == allNamespaces {
			sel = excluded(s.cfg.Kubernetes, "metadata.namespace")
		}
		res := &ingresses{selector: fields.AndSelectors(sel...).String(), client: cs.NetworkingV1()}
		ws = append(ws, newWatcher(ns, ingressStatus+ns, res, s.pageSize, s.clock, s.log))
	}
	return ws, nil
}

// Run follows the Ingresses and probes their hosts; it publishes once every watch has listed
// (or failed), then after every change and every probe.
func (s *IngressSource) Run(ctx context.Context, publish func(*source.Snapshot)) {
	ws, err := s.watchers()
	if err != nil {
		s.log.Error("kubernetes ingresses source not started", "err", err)
		publish(s.failed(err))
		<-ctx.Done()
		return
	}
	changed := make(chan struct{}, 1)
	signal := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	for _, w := range ws {
		w.changed = signal
	}
	var mu sync.Mutex
	probed := &source.Snapshot{}
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, w := range ws {
		wg.Go(func() { w.run(ctx) })
	}
	wg.Go(func() {
		s.probes.Run(ctx, func(p *source.Snapshot) {
			mu.Lock()
			probed = p
			mu.Unlock()
			signal()
		})
	})
	var set []probe.Target
	published, listed := false, false
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
		h := watchHealth(ws)
		var problems []source.Problem
		if h.settled {
			var targets []probe.Target
			targets, problems = s.targets(h.items)
			// Set publishes (and so signals) at once: only a changed list is set.
			if !listed || !reflect.DeepEqual(targets, set) {
				listed, set = true, targets
				s.probes.Set(targets)
			}
		}
		mu.Lock()
		p := probed
		mu.Unlock()
		if published || h.settled {
			published = true
			publish(merge(&h, problems, p))
		}
	}
}

// Once lists the Ingresses once and probes their hosts once.
func (s *IngressSource) Once(ctx context.Context) *source.Snapshot {
	ws, err := s.watchers()
	if err != nil {
		return s.failed(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	changed := make(chan struct{}, 1)
	for _, w := range ws {
		w.changed = func() {
			select {
			case changed <- struct{}{}:
			default:
			}
		}
	}
	var wg sync.WaitGroup
	for _, w := range ws {
		wg.Go(func() { w.run(wctx) })
	}
	h := watchHealth(ws)
	for !h.settled && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-changed:
		}
		h = watchHealth(ws)
	}
	cancel()
	wg.Wait()
	targets, problems := s.targets(h.items)
	s.probes.Set(targets)
	return merge(&h, problems, s.probes.Once(ctx))
}

// merge is the source's snapshot: the watches' health and the probes' snapshot.
func merge(h *health, problems []source.Problem, p *source.Snapshot) *source.Snapshot {
	snap := &source.Snapshot{
		Chains:   p.Chains,
		Problems: slices.Concat(h.problems, problems, p.Problems),
		Status:   slices.Concat(h.status, p.Status),
		State:    &ingressState{probes: p.State},
	}
	watchErrs := metrics(h.watchErrs, nil, nil, nil)
	if p.Metrics != nil || watchErrs != nil {
		snap.Metrics = func(ch chan<- prometheus.Metric) {
			if p.Metrics != nil {
				p.Metrics(ch)
			}
			if watchErrs != nil {
				watchErrs(ch)
			}
		}
	}
	return snap
}

// failed is the snapshot of a source whose client could not be made: every watch is down.
func (s *IngressSource) failed(err error) *source.Snapshot {
	h := health{}
	for _, ns := range namespacesOf(s.cfg.Kubernetes) {
		errs := source.NewErrors(ErrorReasons...)
		errs[reasonConfig]++
		h.status = append(h.status, source.Status{Source: statusSource, Name: ingressStatus + ns, Errors: errs, Error: err.Error()})
		h.watchErrs = append(h.watchErrs, watchError{ns, ingressesResource, reasonConfig})
	}
	h.problems = []source.Problem{{Source: certs.SourceKubernetes, Where: "kubernetes.ingresses", Reason: reasonConfig, Message: err.Error()}}
	return merge(&h, nil, &source.Snapshot{})
}

// targets are the probe targets of the Ingresses the watches keep: one per TLS host (and
// port), dialled at the union of the addresses of the Ingresses naming it, in host order.
func (s *IngressSource) targets(items [][]runtime.Object) ([]probe.Target, []source.Problem) {
	in := s.cfg.Kubernetes.Ingresses
	var ings []*networkingv1.Ingress
	for _, objs := range items {
		for _, o := range objs {
			if ing, ok := o.(*networkingv1.Ingress); ok {
				ings = append(ings, ing)
			}
		}
	}
	slices.SortFunc(ings, func(a, b *networkingv1.Ingress) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	fixed := in.IngressAddress()
	var problems []source.Problem
	addrs := map[string][]string{} // by target
	for _, ing := range ings {
		hosts := tlsHosts(ing)
		if len(hosts) == 0 {
			continue
		}
		port, dial := strconv.Itoa(in.Port), loadBalancerAddresses(ing)
		if fixed != "" {
			var host string
			host, port, _ = net.SplitHostPort(fixed)
			dial = []string{host}
		}
		if len(dial) == 0 {
			problems = append(problems, source.Problem{Source: certs.SourceKubernetes, Where: "Ingress " + ing.Namespace + "/" + ing.Name, Reason: reasonNoAddress,
				Message: "no status.loadBalancer.ingress address (and no kubernetes.ingresses.address): its TLS hosts are not probed"})
			continue
		}
		for _, h := range hosts {
			t := net.JoinHostPort(h, port)
			for _, a := range dial {
				if !slices.Contains(addrs[t], a) {
					addrs[t] = append(addrs[t], a)
				}
			}
		}
	}
	var out []probe.Target
	for _, t := range slices.Sorted(maps.Keys(addrs)) {
		if s.cfg.HasTarget(t) {
			continue // targets: probes it, with the same series
		}
		if len(out) == maxIngressTargets {
			problems = append(problems, source.Problem{Source: certs.SourceKubernetes, Where: "kubernetes.ingresses", Reason: reasonTooManyTargets,
				Message: fmt.Sprintf("more than %d TLS hosts: %s and the hosts after it are not probed", maxIngressTargets, t)})
			break
		}
		a := addrs[t]
		slices.Sort(a)
		out = append(out, probe.Target{Target: config.Target{Target: t, Module: in.Module, Interval: in.Interval}, Addresses: a})
	}
	return out, problems
}

// tlsHosts are an Ingress's spec.tls hosts, lower case, without wildcards (no name to
// dial: the certificate of a wildcard host is checked where a concrete host uses it).
func tlsHosts(ing *networkingv1.Ingress) []string {
	var out []string
	for _, t := range ing.Spec.TLS {
		for _, h := range t.Hosts {
			h = strings.TrimSuffix(strings.ToLower(h), ".")
			if h != "" && !strings.HasPrefix(h, "*") && !slices.Contains(out, h) {
				out = append(out, h)
			}
		}
	}
	return out
}

// loadBalancerAddresses are where the Ingress's controller says it is reached: each
// status.loadBalancer.ingress entry's ip, else its hostname.
func loadBalancerAddresses(ing *networkingv1.Ingress) []string {
	var out []string
	for _, lb := range ing.Status.LoadBalancer.Ingress {
		if a := cmp.Or(lb.IP, lb.Hostname); a != "" && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// ingressesResource is the `resource` label of the Ingress watches' errors.
const ingressesResource = "ingresses"

// ingresses are the Ingresses of a namespace, kept with only what makes targets.
type ingresses struct {
	// selector is the field selector: the excluded namespaces.
	selector string
	client   typednetworkingv1.IngressesGetter
}

func (r *ingresses) String() string { return "ingresses.networking.k8s.io" }

func (r *ingresses) name() string { return ingressesResource }

func (r *ingresses) expected() runtime.Object { return &networkingv1.Ingress{} }

func (r *ingresses) list(ctx context.Context, namespace string, opts metav1.ListOptions) (runtime.Object, error) {
	opts.FieldSelector = r.selector
	l, err := r.client.Ingresses(namespace).List(ctx, opts)
	if err != nil {
		return nil, err
	}
	for i := range l.Items {
		l.Items[i] = *trimIngress(&l.Items[i])
	}
	return l, nil
}

func (r *ingresses) watch(ctx context.Context, namespace string, opts metav1.ListOptions) (watch.Interface, error) {
	opts.FieldSelector = r.selector
	return r.client.Ingresses(namespace).Watch(ctx, opts)
}

func (r *ingresses) keep(ev watch.Event) runtime.Object {
	if ing, ok := ev.Object.(*networkingv1.Ingress); ok {
		return trimIngress(ing)
	}
	return ev.Object
}

// trimIngress keeps the name, TLS hosts and load balancer addresses: rules, annotations and
// managed fields are most of an Ingress and make no target.
func trimIngress(in *networkingv1.Ingress) *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: in.Namespace, Name: in.Name, ResourceVersion: in.ResourceVersion},
		Spec:       networkingv1.IngressSpec{TLS: in.Spec.TLS},
		Status:     networkingv1.IngressStatus{LoadBalancer: in.Status.LoadBalancer},
	}
}
