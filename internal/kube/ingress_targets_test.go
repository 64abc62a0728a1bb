package kube

import (
	"fmt"
	"reflect"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/probe"
)

// TestIngressTargets: one target per TLS host and port, dialled at the union of the addresses
// of the Ingresses naming it (or the configured address), without wildcards, hosts of
// targets: or Ingresses without an address.
func TestIngressTargets(t *testing.T) {
	lb := func(ing *networkingv1.Ingress, addrs ...networkingv1.IngressLoadBalancerIngress) *networkingv1.Ingress {
		ing.Status.LoadBalancer.Ingress = addrs
		return ing
	}
	ip := func(a string) networkingv1.IngressLoadBalancerIngress {
		return networkingv1.IngressLoadBalancerIngress{IP: a}
	}
	name := func(a string) networkingv1.IngressLoadBalancerIngress {
		return networkingv1.IngressLoadBalancerIngress{Hostname: a}
	}
	ings := []runtime.Object{
		lb(ingress("b", "web", "web", "WWW.example.test.", "*.example.test", "www.example.test"), ip("10.0.0.2")),
		lb(ingress("a", "web", "web", "www.example.test", "api.example.test"), ip("10.0.0.1"), name("lb.cloud.test")),
		lb(ingress("a", "plain", "")), // no TLS: not a target, no address needed
		ingress("c", "new", "new", "new.example.test"),
		lb(ingress("a", "listed", "listed", "listed.example.test"), ip("10.0.0.1")),
	}
	target := func(host, port string, addrs ...string) probe.Target {
		return probe.Target{Target: config.Target{Target: host + ":" + port, Module: "tls", Interval: 300e9}, Addresses: addrs}
	}
	noAddress := source.Problem{Source: certs.SourceKubernetes, Where: "Ingress c/new", Reason: reasonNoAddress,
		Message: "no status.loadBalancer.ingress address (and no kubernetes.ingresses.address): its TLS hosts are not probed"}
	deploy := func(host, port, ns, secret string) source.Deploy {
		return source.Deploy{Target: host + ":" + port, Namespace: ns, Secret: secret}
	}
	for _, tc := range []struct {
		section  string
		want     []probe.Target
		problems []source.Problem
		deploys  []source.Deploy // the secretName of each Ingress naming the host
	}{
		{"ingresses: {}", []probe.Target{
			target("api.example.test", "443", "10.0.0.1", "lb.cloud.test"),
			target("www.example.test", "443", "10.0.0.1", "10.0.0.2", "lb.cloud.test"),
		}, []source.Problem{noAddress}, []source.Deploy{
			deploy("api.example.test", "443", "a", "web"), deploy("www.example.test", "443", "a", "web"), deploy("www.example.test", "443", "b", "web"),
		}},
		{"ingresses: {port: 8443}", []probe.Target{
			target("api.example.test", "8443", "10.0.0.1", "lb.cloud.test"),
			target("listed.example.test", "8443", "10.0.0.1"), // targets: has it at 443 only
			target("www.example.test", "8443", "10.0.0.1", "10.0.0.2", "lb.cloud.test"),
		}, []source.Problem{noAddress}, []source.Deploy{
			deploy("api.example.test", "8443", "a", "web"), deploy("listed.example.test", "8443", "a", "listed"),
			deploy("www.example.test", "8443", "a", "web"), deploy("www.example.test", "8443", "b", "web"),
		}},
		// The controller's Service for every host, the Ingress without an address too.
		{"ingresses: {address: 'ctl.ingress.svc:444'}", []probe.Target{
			target("api.example.test", "444", "ctl.ingress.svc"),
			target("listed.example.test", "444", "ctl.ingress.svc"),
			target("new.example.test", "444", "ctl.ingress.svc"),
			target("www.example.test", "444", "ctl.ingress.svc"),
		}, nil, []source.Deploy{
			deploy("api.example.test", "444", "a", "web"), deploy("listed.example.test", "444", "a", "listed"), deploy("new.example.test", "444", "c", "new"),
			deploy("www.example.test", "444", "a", "web"), deploy("www.example.test", "444", "b", "web"),
		}},
	} {
		cfg, err := config.Parse(fmt.Appendf(nil, "targets: [{target: LISTED.example.test}]\nkubernetes: {%s}\n", tc.section))
		if err != nil {
			t.Fatal(err)
		}
		s := &IngressSource{cfg: cfg}
		got, problems, deploys := s.targets([][]runtime.Object{ings})
		if !reflect.DeepEqual(got, tc.want) || !reflect.DeepEqual(problems, tc.problems) || !reflect.DeepEqual(deploys, tc.deploys) {
			t.Errorf("%s:\ntargets  %+v\nwant     %+v\nproblems %+v\nwant     %+v\ndeploys  %+v\nwant     %+v", tc.section, got, tc.want, problems, tc.problems, deploys, tc.deploys)
		}
	}
}

// TestIngressTargetsBounded: the hosts after maxIngressTargets are a problem, not targets.
func TestIngressTargetsBounded(t *testing.T) {
	var ings []runtime.Object
	for i := range maxIngressTargets + 2 {
		ings = append(ings, ingress("a", fmt.Sprintf("i%04d", i), "s", fmt.Sprintf("h%04d.example.test", i)))
	}
	cfg, err := config.Parse([]byte("kubernetes: {ingresses: {address: 10.0.0.1}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	got, problems, deploys := (&IngressSource{cfg: cfg}).targets([][]runtime.Object{ings})
	want := []source.Problem{{Source: certs.SourceKubernetes, Where: "kubernetes.ingresses", Reason: reasonTooManyTargets,
		Message: "more than 1000 TLS hosts: h1000.example.test:443 and the hosts after it are not probed"}}
	if len(got) != maxIngressTargets || got[len(got)-1].Target.Target != "h0999.example.test:443" || !reflect.DeepEqual(problems, want) ||
		len(deploys) != maxIngressTargets || deploys[len(deploys)-1].Target != "h0999.example.test:443" {
		t.Errorf("%d targets, last %s, problems %+v", len(got), got[len(got)-1].Target.Target, problems)
	}
}
