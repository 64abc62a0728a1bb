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
	"github.com/prometheus/common/model"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"

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
		if k == nil || (k.Ingresses == nil && k.Gateways == nil) {
			return nil, false
		}
		// The configured targets too: a host that is one of them is left to targets:.
		return struct {
			Kubeconfig string
			Namespaces config.KubeNamespaces
			Ingresses  *config.KubeIngresses
			Gateways   *config.KubeGateways
			Targets    []config.Target
			Modules    map[string]config.Module
			Probe      config.Probe
		}{k.Kubeconfig, k.Namespaces, k.Ingresses, k.Gateways, cfg.Targets, cfg.Modules, cfg.Probe}, true
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

// IngressSource follows the Ingresses (kubernetes.ingresses) and Gateways
// (kubernetes.gateways) of the section's namespaces (one reflector each per namespace, or for
// the cluster; with namespaces.label_selector, per namespace matching it, as for the Secrets)
// and probes their TLS hosts.
type IngressSource struct {
	cfg      *config.Config
	log      *slog.Logger
	clock    clockwork.Clock
	pageSize int64
	probes   *probe.Discovered
}

// ingressState is the source's snapshot State: the probes' own, for the source replacing it.
type ingressState struct{ probes any }

// watches starts the watches of the section's namespaces; they run until ctx ends.
func (s *IngressSource) watches(ctx context.Context) (*namespaceWatches, error) {
	k := s.cfg.Kubernetes
	rc, err := RESTConfig(k.Kubeconfig)
	if err != nil {
		return nil, err
	}
	api, err := newAPIClients(rc)
	if err != nil {
		return nil, err
	}
	var dyn dynamic.Interface
	if k.Gateways != nil {
		if dyn, err = dynamic.NewForConfig(rc); err != nil {
			return nil, fmt.Errorf("kubernetes: %w", err)
		}
	}
	var nsw *watcher
	if sel := k.Namespaces.LabelSelector; sel != "" {
		nsw = newWatcher(allNamespaces, s.namespacesStatus(), newNamespaces(k, api.namespaces()), s.pageSize, s.clock, s.log)
	}
	return followNamespaces(ctx, k, nsw, func(ns string) []*watcher {
		var sel []fields.Selector
		if ns == allNamespaces {
			sel = excluded(k, "metadata.namespace")
		}
		selector := fields.AndSelectors(sel...).String()
		var ws []*watcher
		if k.Ingresses != nil {
			ws = append(ws, newWatcher(ns, ingressStatus+ns, &ingresses{selector: selector, client: api.ingresses()}, s.pageSize, s.clock, s.log))
		}
		if k.Gateways != nil {
			ws = append(ws, newWatcher(ns, gatewayStatus+ns, gateways(dyn, selector), s.pageSize, s.clock, s.log))
		}
		return ws
	}), nil
}

// namespacesStatus is the source_up name of the source's namespace watch (with
// namespaces.label_selector): not the kubernetes source's own, which counts apart.
func (s *IngressSource) namespacesStatus() string {
	prefix := ingressStatus
	if s.cfg.Kubernetes.Ingresses == nil {
		prefix = gatewayStatus
	}
	return prefix + namespacesStatus + s.cfg.Kubernetes.Namespaces.LabelSelector
}

// Run follows the Ingresses and Gateways and probes their hosts; it publishes once every
// watch has listed (or failed), then after every change and every probe.
func (s *IngressSource) Run(ctx context.Context, publish func(*source.Snapshot)) {
	ws, err := s.watches(ctx)
	if err != nil {
		s.log.Error("kubernetes ingresses source not started", "err", err)
		publish(s.failed(err))
		<-ctx.Done()
		return
	}
	defer ws.wait()
	var mu sync.Mutex
	probed := &source.Snapshot{}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		s.probes.Run(ctx, func(p *source.Snapshot) {
			mu.Lock()
			probed = p
			mu.Unlock()
			ws.signal()
		})
	})
	var set []probe.Target
	var deploys []source.Deploy
	published, listed := false, false
	for {
		select {
		case <-ctx.Done():
			return
		case <-ws.changed:
		}
		h := watchHealth(ws.all())
		if ws.update() {
			ws.signal() // h lacks the namespaces now followed, or has those dropped
			continue
		}
		var problems []source.Problem
		if h.settled {
			var targets []probe.Target
			targets, problems, deploys = s.targets(h.items)
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
			publish(merge(&h, problems, deploys, p))
		}
	}
}

// Once lists the Ingresses and Gateways once and probes their hosts once.
func (s *IngressSource) Once(ctx context.Context) *source.Snapshot {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ws, err := s.watches(wctx)
	if err != nil {
		return s.failed(err)
	}
	var h health
	for {
		if h = watchHealth(ws.all()); ws.update() {
			continue // h lacks the namespaces now followed
		}
		if h.settled || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-ws.changed:
		}
	}
	cancel()
	ws.wait()
	targets, problems, deploys := s.targets(h.items)
	s.probes.Set(targets)
	return merge(&h, problems, deploys, s.probes.Once(ctx))
}

// merge is the source's snapshot: the watches' health, the Secrets the targets are to serve
// and the probes' snapshot. A failing namespace watch is the kubernetes source's watch error
// already (the same selector, the same credentials): two series with the same labels would
// fail the scrape.
func merge(h *health, problems []source.Problem, deploys []source.Deploy, p *source.Snapshot) *source.Snapshot {
	snap := &source.Snapshot{
		Chains:   p.Chains,
		Deploys:  deploys,
		Problems: slices.Concat(h.problems, problems, p.Problems),
		Status:   slices.Concat(h.status, p.Status),
		State:    &ingressState{probes: p.State},
	}
	watchErrs := metrics(slices.DeleteFunc(slices.Clone(h.watchErrs), func(e watchError) bool { return e.resource == namespacesResource }), nil, nil, nil)
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
	k := s.cfg.Kubernetes
	h := health{}
	down := func(name string) {
		errs := source.NewErrors(ErrorReasons...)
		errs[reasonConfig]++
		h.status = append(h.status, source.Status{Source: statusSource, Name: name, Errors: errs, Error: err.Error()})
	}
	nss := namespacesOf(k)
	if k.Namespaces.LabelSelector != "" {
		// The namespaces' watches come and go with the namespace watch, as for the Secrets.
		down(s.namespacesStatus())
		nss = []string{allNamespaces}
	}
	for _, ns := range nss {
		if k.Ingresses != nil {
			if k.Namespaces.LabelSelector == "" {
				down(ingressStatus + ns)
			}
			h.watchErrs = append(h.watchErrs, watchError{ns, ingressesResource, reasonConfig})
		}
		if k.Gateways != nil {
			if k.Namespaces.LabelSelector == "" {
				down(gatewayStatus + ns)
			}
			h.watchErrs = append(h.watchErrs, watchError{ns, gatewaysGVR.Resource, reasonConfig})
		}
	}
	h.problems = []source.Problem{{Source: certs.SourceKubernetes, Where: s.section(), Reason: reasonConfig, Message: err.Error()}}
	return merge(&h, nil, nil, &source.Snapshot{})
}

// section names the source's section in problems: kubernetes.ingresses, or without it
// kubernetes.gateways.
func (s *IngressSource) section() string {
	if s.cfg.Kubernetes.Ingresses == nil {
		return "kubernetes.gateways"
	}
	return "kubernetes.ingresses"
}

// targets are the probe targets of the Ingresses and Gateways the watches keep: one per TLS
// host (or listener hostname) and port, dialled at the union of the addresses of the objects
// naming it, in host order, with the Secrets they name for it (deploys, in target order). A
// host:port both an Ingress and a Gateway name is one target, with kubernetes.ingresses'
// module and interval.
func (s *IngressSource) targets(items [][]runtime.Object) ([]probe.Target, []source.Problem, []source.Deploy) {
	k := s.cfg.Kubernetes
	var ings []*networkingv1.Ingress
	var gws []*unstructured.Unstructured
	for _, objs := range items {
		for _, o := range objs {
			switch o := o.(type) {
			case *networkingv1.Ingress:
				ings = append(ings, o)
			case *unstructured.Unstructured: // the only dynamic resource here
				gws = append(gws, o)
			}
		}
	}
	slices.SortFunc(ings, func(a, b *networkingv1.Ingress) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	slices.SortFunc(gws, func(a, b *unstructured.Unstructured) int {
		return cmp.Or(cmp.Compare(a.GetNamespace(), b.GetNamespace()), cmp.Compare(a.GetName(), b.GetName()))
	})
	var problems []source.Problem
	found := map[string]*probe.Target{} // by target
	secrets := map[string][]secretRef{} // by target
	add := func(l listener, port string, dial []string, module string, interval model.Duration) {
		t := net.JoinHostPort(l.host, port)
		f := found[t]
		if f == nil {
			f = &probe.Target{Target: config.Target{Target: t, Module: module, Interval: interval}}
			found[t] = f
		}
		for _, a := range dial {
			if !slices.Contains(f.Addresses, a) {
				f.Addresses = append(f.Addresses, a)
			}
		}
		secrets[t] = addRefs(secrets[t], l.secrets...)
	}
	if in := k.Ingresses; in != nil {
		fixed := in.IngressAddress()
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
				add(h, port, dial, in.Module, in.Interval)
			}
		}
	}
	if gw := k.Gateways; gw != nil {
		for _, g := range gws {
			ls := gatewayListeners(g)
			if len(ls) == 0 {
				continue
			}
			dial := gatewayAddresses(g)
			if len(dial) == 0 && gw.Address == "" {
				problems = append(problems, source.Problem{Source: certs.SourceKubernetes, Where: "Gateway " + g.GetNamespace() + "/" + g.GetName(), Reason: reasonNoAddress,
					Message: "no status.addresses address (and no kubernetes.gateways.address): its listeners are not probed"})
				continue
			}
			for _, l := range ls {
				port := strconv.Itoa(l.port)
				if fixed := gw.GatewayAddress(l.port); fixed != "" {
					var host string
					host, port, _ = net.SplitHostPort(fixed)
					dial = []string{host}
				}
				add(l, port, dial, gw.Module, gw.Interval)
			}
		}
	}
	var out []probe.Target
	var deploys []source.Deploy
	for _, t := range slices.Sorted(maps.Keys(found)) {
		if s.cfg.HasTarget(t) {
			continue // targets: probes it, with the same series
		}
		if len(out) == maxIngressTargets {
			problems = append(problems, source.Problem{Source: certs.SourceKubernetes, Where: s.section(), Reason: reasonTooManyTargets,
				Message: fmt.Sprintf("more than %d TLS hosts: %s and the hosts after it are not probed", maxIngressTargets, t)})
			break
		}
		f := found[t]
		slices.Sort(f.Addresses)
		out = append(out, *f)
		for _, r := range secrets[t] {
			deploys = append(deploys, source.Deploy{Target: t, Namespace: r.namespace, Secret: r.name})
		}
	}
	return out, problems, deploys
}

// tlsHosts are an Ingress's spec.tls hosts, lower case, without wildcards (no name to
// dial: the certificate of a wildcard host is checked where a concrete host uses it), each
// with the secretName of the entries naming it (the port is the caller's).
func tlsHosts(ing *networkingv1.Ingress) []listener {
	var out []listener
	for _, t := range ing.Spec.TLS {
		for _, h := range t.Hosts {
			h = strings.TrimSuffix(strings.ToLower(h), ".")
			if h == "" || strings.HasPrefix(h, "*") {
				continue
			}
			var refs []secretRef
			if t.SecretName != "" {
				refs = []secretRef{{ing.Namespace, t.SecretName}}
			}
			out = addListener(out, h, 0, refs...)
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
	client   apiResource
}

func (r *ingresses) String() string { return "ingresses.networking.k8s.io" }

func (r *ingresses) name() string { return ingressesResource }

func (r *ingresses) expected() runtime.Object { return &networkingv1.Ingress{} }

func (r *ingresses) list(ctx context.Context, namespace string, opts metav1.ListOptions) (runtime.Object, error) {
	opts.FieldSelector = r.selector
	l := &networkingv1.IngressList{}
	if err := r.client.list(ctx, namespace, opts, l); err != nil {
		return nil, err
	}
	for i := range l.Items {
		l.Items[i] = *trimIngress(&l.Items[i])
	}
	return l, nil
}

func (r *ingresses) watch(ctx context.Context, namespace string, opts metav1.ListOptions) (watch.Interface, error) {
	opts.FieldSelector = r.selector
	return r.client.watch(ctx, namespace, opts)
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
