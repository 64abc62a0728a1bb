package kube

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"math/big"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testkube"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testserver"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testwait"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/probe"
)

// gatewayJSON is a Gateway with listeners (JSON) and status addresses (JSON, "" for none),
// as the API server stores it.
func gatewayJSON(ns, name, listeners, addresses string) string {
	gw := `{"apiVersion":"gateway.networking.k8s.io/v1","kind":"Gateway","metadata":{"namespace":"` + ns + `","name":"` + name + `"},` +
		`"spec":{"gatewayClassName":"test","listeners":` + listeners + `}`
	if addresses != "" {
		gw += `,"status":{"addresses":` + addresses + `}`
	}
	return gw + "}"
}

// webListeners are the listeners of the tests' Gateways: one probed HTTPS listener (TLS
// from the Secret web), and beside it one on plain HTTP and one for a wildcard, not probed.
func webListeners(host, port string) string {
	return `[{"name":"https","protocol":"HTTPS","hostname":"` + host + `","port":` + port +
		`,"tls":{"mode":"Terminate","certificateRefs":[{"group":"","kind":"Secret","name":"web"}]}},` +
		`{"name":"http","protocol":"HTTP","hostname":"` + host + `","port":80},` +
		`{"name":"wild","protocol":"HTTPS","hostname":"*.example.test","port":` + port + `,"tls":{"certificateRefs":[{"name":"wild"}]}}]`
}

// TestGatewayTargets: one target per probed listener's hostname and port, dialled at the
// Gateway's status addresses (or the configured address, at the listener's port unless it
// names one); a host:port an Ingress names too is one target with the Ingress's module and
// interval, and the addresses of both.
func TestGatewayTargets(t *testing.T) {
	ing := ingress("a", "web", "web", "www.example.test")
	ing.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "10.0.0.1"}}
	objs := []runtime.Object{
		ing,
		testkube.Object(t, gatewayJSON("a", "gw", `[`+
			`{"name":"https","protocol":"HTTPS","hostname":"WWW.example.test.","port":443,"tls":{"certificateRefs":[{"name":"web"}]}},`+
			`{"name":"http","protocol":"HTTP","hostname":"www.example.test","port":80},`+
			`{"name":"wild","protocol":"HTTPS","hostname":"*.example.test","port":443},`+
			`{"name":"any","protocol":"HTTPS","port":443},`+
			`{"name":"db","protocol":"TLS","hostname":"db.example.test","port":8443,"tls":{"mode":"Terminate","certificateRefs":[{"name":"db","namespace":"certs"},{"group":"example.test","kind":"Vault","name":"x"}]}},`+
			`{"name":"pass","protocol":"TLS","hostname":"pass.example.test","port":443,"tls":{"mode":"Passthrough"}},`+
			`{"name":"bad","protocol":"HTTPS","hostname":"bad.example.test","port":"443"}]`,
			`[{"type":"IPAddress","value":"10.0.0.5"},{"type":"Hostname","value":"gw.cloud.test"},{"type":"example.test/named","value":"internal"},{"value":"10.0.0.6"}]`)),
		testkube.Object(t, gatewayJSON("b", "new", `[{"name":"https","protocol":"HTTPS","hostname":"new.example.test","port":443}]`, "")),
		testkube.Object(t, gatewayJSON("b", "plain", `[{"name":"http","protocol":"HTTP","hostname":"plain.example.test","port":80}]`, "")),
	}
	target := func(host, port, interval string, addrs ...string) probe.Target {
		d, err := model.ParseDuration(interval)
		if err != nil {
			t.Fatal(err)
		}
		return probe.Target{Target: config.Target{Target: host + ":" + port, Module: "tls", Interval: d}, Addresses: addrs}
	}
	noAddress := source.Problem{Source: certs.SourceKubernetes, Where: "Gateway b/new", Reason: reasonNoAddress,
		Message: "no status.addresses address (and no kubernetes.gateways.address): its listeners are not probed"}
	// The Ingress's secretName and the listener's certificateRefs (the Gateway's namespace by
	// default, a Secret only) name one Secret for www.
	deploys := func(port string) []source.Deploy {
		return []source.Deploy{{Target: "db.example.test:" + port, Namespace: "certs", Secret: "db"}, {Target: "www.example.test:443", Namespace: "a", Secret: "web"}}
	}
	for _, tc := range []struct {
		section  string
		want     []probe.Target
		problems []source.Problem
		deploys  []source.Deploy
	}{
		{"ingresses: {}, gateways: {interval: 1m}", []probe.Target{
			target("db.example.test", "8443", "1m", "10.0.0.5", "10.0.0.6", "gw.cloud.test"),
			target("www.example.test", "443", "5m", "10.0.0.1", "10.0.0.5", "10.0.0.6", "gw.cloud.test"),
		}, []source.Problem{noAddress}, deploys("8443")},
		// Without kubernetes.ingresses the Ingress is no target.
		{"gateways: {address: envoy.gw.svc}", []probe.Target{
			target("db.example.test", "8443", "5m", "envoy.gw.svc"),
			target("new.example.test", "443", "5m", "envoy.gw.svc"),
			target("www.example.test", "443", "5m", "envoy.gw.svc"),
		}, nil, deploys("8443")},
		{"gateways: {address: 'envoy.gw.svc:9443'}", []probe.Target{
			target("db.example.test", "9443", "5m", "envoy.gw.svc"),
			target("new.example.test", "9443", "5m", "envoy.gw.svc"),
			target("www.example.test", "9443", "5m", "envoy.gw.svc"),
		}, nil, []source.Deploy{{Target: "db.example.test:9443", Namespace: "certs", Secret: "db"}, {Target: "www.example.test:9443", Namespace: "a", Secret: "web"}}},
	} {
		cfg, err := config.Parse(fmt.Appendf(nil, "kubernetes: {%s}\n", tc.section))
		if err != nil {
			t.Fatal(err)
		}
		got, problems, deps := (&IngressSource{cfg: cfg}).targets([][]runtime.Object{objs})
		if !reflect.DeepEqual(got, tc.want) || !reflect.DeepEqual(problems, tc.problems) || !reflect.DeepEqual(deps, tc.deploys) {
			t.Errorf("%s:\ntargets  %+v\nwant     %+v\nproblems %+v\nwant     %+v\ndeploys  %+v\nwant     %+v", tc.section, got, tc.want, problems, tc.problems, deps, tc.deploys)
		}
	}
}

// testGateways runs kubernetes.gateways against the cluster of TestSource, which has no
// Gateway CRD until the first subtest installs it.
func testGateways(t *testing.T, c *testkube.Cluster, admin kubernetes.Interface, pki *testcerts.PKI) {
	gatewayRights := rbacv1.PolicyRule{APIGroups: []string{"gateway.networking.k8s.io"}, Resources: []string{"gateways"}, Verbs: []string{"list", "watch"}}
	secretRights := rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"list", "watch"}}
	watchErr := func(series string) string {
		return "# HELP cert_expiry_exporter_kubernetes_watch_error 1 per namespace (* for the cluster-wide watch) and resource (secrets, configmaps, namespaces, ingresses, gateways, certificates, orders, challenges) that cannot be listed or watched, with the reason.\n" +
			"# TYPE cert_expiry_exporter_kubernetes_watch_error gauge\n" + series
	}
	healthFamilies := []string{"cert_expiry_exporter_kubernetes_watch_error", "cert_expiry_exporter_source_up", "cert_expiry_exporter_source_last_success_timestamp_seconds"}

	// A cluster without the Gateway CRD: the Gateway watch is not_found on its own (the
	// Secrets are read), until the CRD is installed; its reflector retries.
	t.Run("gateway CRD installed later", func(t *testing.T) {
		c.EnsureNamespace(t, "gwcrd")
		sa := c.ServiceAccountConfig(t, "gwcrd", "exporter", testkube.Grant{Namespace: "gwcrd", Rules: []rbacv1.PolicyRule{secretRights, gatewayRights}})
		e := runExporter(t, sa, "namespaces: {include: [gwcrd]}, gateways: {}", clockwork.NewFakeClockAt(now))
		e.await(t, watchErr(`cert_expiry_exporter_kubernetes_watch_error{namespace="gwcrd",reason="not_found",resource="gateways"} 1`+"\n")+
			status("gateways/gwcrd 0 -", "gwcrd 1 "+nowSeconds), healthFamilies...)

		c.InstallGatewayCRD(t)
		e.await(t, status("gateways/gwcrd 1 "+nowSeconds, "gwcrd 1 "+nowSeconds), healthFamilies...)
	})

	// Without rights on gateways the Gateway watch fails on its own.
	t.Run("gateways forbidden", func(t *testing.T) {
		c.EnsureNamespace(t, "gwdenied")
		sa := c.ServiceAccountConfig(t, "gwdenied", "exporter", testkube.Grant{Namespace: "gwdenied", Rules: []rbacv1.PolicyRule{secretRights}})
		e := runExporter(t, sa, "namespaces: {include: [gwdenied]}, gateways: {}", clockwork.NewFakeClockAt(now))
		e.await(t, watchErr(`cert_expiry_exporter_kubernetes_watch_error{namespace="gwdenied",reason="forbidden",resource="gateways"} 1`+"\n")+
			status("gateways/gwdenied 0 -", "gwdenied 1 "+nowSeconds), healthFamilies...)
	})

	// The targets of a Gateway as the API server stores it (the CRD's defaults, the fields
	// kept): only its HTTPS listener with a hostname.
	t.Run("gateway targets", func(t *testing.T) {
		c.EnsureNamespace(t, "gwt")
		c.Create(t, testkube.GatewayGVR, gatewayJSON("gwt", "gw", webListeners("gwt.example.test", "8443"), ""),
			`{"addresses":[{"value":"10.0.0.9"},{"type":"Hostname","value":"gw.gwt.test"}]}`)
		cfg, err := config.Parse(fmt.Appendf(nil, "kubernetes: {kubeconfig: %q, namespaces: {include: [gwt]}, gateways: {}}\n", testkube.Kubeconfig(t, c.Config())))
		if err != nil {
			t.Fatal(err)
		}
		s := &IngressSource{cfg: cfg, log: slog.New(slog.DiscardHandler), clock: clockwork.NewFakeClockAt(now), pageSize: defaultPageSize}
		ctx, cancel := context.WithCancel(t.Context())
		ws, err := s.watches(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer ws.wait()
		defer cancel()
		var h health
		testwait.For(t, "the Gateways listed", func() bool {
			h = watchHealth(ws.all())
			return h.settled
		})
		got, problems, _ := s.targets(h.items)
		want := []probe.Target{{Target: config.Target{Target: "gwt.example.test:8443", Module: "tls", Interval: model.Duration(5 * time.Minute)},
			Addresses: []string{"10.0.0.9", "gw.gwt.test"}}}
		if !reflect.DeepEqual(got, want) || problems != nil {
			t.Errorf("targets %+v, problems %+v; want %+v", got, problems, want)
		}
	})

	// As for an Ingress: the Secret holds the renewed certificate, the Gateway (a loopback TLS
	// server at its status address) still serves the one before it. An Ingress naming the
	// same host and port makes no second target.
	t.Run("gateway serves an outdated certificate", func(t *testing.T) {
		c.EnsureNamespace(t, "gw")
		const host = "gw.example.test"
		leaf := func(serial int64, issued time.Time) *testcerts.Cert {
			return pki.Leaf(testcerts.Options{CN: host, DNSNames: []string{host}, Serial: big.NewInt(serial), NotBefore: issued, NotAfter: feb})
		}
		old, renewed := leaf(3101, now.Add(-48*time.Hour)), leaf(3102, now.Add(-24*time.Hour))
		create(t, admin, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "gw", Name: "web"}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: testcerts.Bundle(renewed, pki.Intermediate), corev1.TLSPrivateKeyKey: renewed.KeyPEM()}})
		var serving atomic.Pointer[tls.Certificate]
		oldTLS, renewedTLS := old.TLS(), renewed.TLS()
		serving.Store(&oldTLS)
		srv := testserver.Serve(t, "127.0.0.1:0", testserver.HandleTLS(&tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return serving.Load(), nil
		}}))
		c.Create(t, testkube.GatewayGVR, gatewayJSON("gw", "web", webListeners(host, srv.Port), ""), `{"addresses":[{"type":"IPAddress","value":"127.0.0.1"}]}`)
		createIngress(t, admin, ingress("gw", "web", "web", host), "127.0.0.1")

		clock := clockwork.NewFakeClockAt(time.Now()) // the Secret's write time is the API server's
		sa := c.ServiceAccountConfig(t, "gw", "exporter", testkube.Grant{Rules: testkube.ClusterRoleRules(t, shippedRBAC)})
		e := runExporter(t, sa, "namespaces: {include: [gw]}, ingresses: {port: "+srv.Port+", interval: 1m}, gateways: {interval: 1m}", clock)
		target := host + ":" + srv.Port
		want := func(outdated string) string {
			return "# HELP cert_probe_success 1 when the TCP connect, STARTTLS and TLS handshake succeeded (verification is reported separately).\n" +
				"# TYPE cert_probe_success gauge\n" +
				`cert_probe_success{ip="127.0.0.1",module="tls",target="` + target + `"} 1` + "\n" +
				"# HELP cert_served_outdated 1 when the endpoint serves an older certificate than the file or Secret it is to serve holds (the Secret its Ingress or Gateway names, else any with the same names), for longer than drift.grace_period; 0 while it matches.\n" +
				"# TYPE cert_served_outdated gauge\n" +
				`cert_served_outdated{domain="` + host + `",ip="127.0.0.1",key="tls.crt",lineage="",namespace="gw",path="",secret="web",target="` + target + `"} ` + outdated + "\n"
		}
		e.await(t, want("0"), "cert_served_outdated", "cert_probe_success")

		clock.BlockUntilContext(t.Context(), 1) // the target's next probe is scheduled
		clock.Advance(2 * time.Hour)
		e.await(t, want("1"), "cert_served_outdated", "cert_probe_success")

		serving.Store(&renewedTLS)
		clock.BlockUntilContext(t.Context(), 1)
		clock.Advance(2 * time.Minute)
		e.await(t, want("0"), "cert_served_outdated", "cert_probe_success")
	})

	// namespaces.label_selector: the Ingresses and Gateways of a namespace are probed while it
	// matches, as its Secrets are read.
	t.Run("ingresses and gateways in label-selected namespaces", func(t *testing.T) {
		srv := testserver.TLS(t, pki.Leaf(testcerts.Options{CN: "lsel.example.test", DNSNames: []string{"*.lsel.example.test"}, NotBefore: now.Add(-time.Hour), NotAfter: feb}).TLS())
		grants := []testkube.Grant{{Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"list", "watch"}}}}}
		for _, ns := range []string{"lsel-a", "lsel-b"} {
			c.EnsureNamespace(t, ns)
			setLabels(t, admin, ns, map[string]string{"lselteam": map[string]string{"lsel-a": "web", "lsel-b": "db"}[ns]})
			createIngress(t, admin, ingress(ns, "web", "web", "ing."+ns+".lsel.example.test"), "")
			c.Create(t, testkube.GatewayGVR, gatewayJSON(ns, "gw", webListeners("gw."+ns+".lsel.example.test", "443"), ""), "")
			grants = append(grants, testkube.Grant{Namespace: ns, Rules: []rbacv1.PolicyRule{secretRights, gatewayRights,
				{APIGroups: []string{"networking.k8s.io"}, Resources: []string{"ingresses"}, Verbs: []string{"list", "watch"}}}})
		}
		sa := c.ServiceAccountConfig(t, "lsel-a", "exporter", grants...)
		e := runExporter(t, sa, "namespaces: {label_selector: lselteam=web}, ingresses: {address: '"+srv.Addr+"'}, gateways: {address: '"+srv.Addr+"'}", clockwork.NewFakeClockAt(now))
		probed := func(nss ...string) string {
			out := "# HELP cert_probe_success 1 when the TCP connect, STARTTLS and TLS handshake succeeded (verification is reported separately).\n" +
				"# TYPE cert_probe_success gauge\n"
			for _, h := range []string{"gw.", "ing."} {
				for _, ns := range nss {
					out += `cert_probe_success{ip="127.0.0.1",module="tls",target="` + h + ns + ".lsel.example.test:" + srv.Port + `"} 1` + "\n"
				}
			}
			return out
		}
		// The health of both sources and of the probed targets.
		up := func(nss ...string) string {
			names := []string{"ingresses/namespaces/lselteam=web kubernetes", "namespaces/lselteam=web kubernetes"}
			for _, ns := range nss {
				names = append(names, "gateways/"+ns+" kubernetes", "ingresses/"+ns+" kubernetes", ns+" kubernetes",
					"gw."+ns+".lsel.example.test:"+srv.Port+" targets", "ing."+ns+".lsel.example.test:"+srv.Port+" targets")
			}
			slices.Sort(names)
			last := "# HELP cert_expiry_exporter_source_last_success_timestamp_seconds When the source last worked.\n" +
				"# TYPE cert_expiry_exporter_source_last_success_timestamp_seconds gauge\n"
			up := "# HELP cert_expiry_exporter_source_up 1 when the source's last pass worked.\n" +
				"# TYPE cert_expiry_exporter_source_up gauge\n"
			for _, n := range names {
				name, src, _ := strings.Cut(n, " ")
				labels := `{name="` + name + `",source="` + src + `"} `
				last += "cert_expiry_exporter_source_last_success_timestamp_seconds" + labels + nowSeconds + "\n"
				up += "cert_expiry_exporter_source_up" + labels + "1\n"
			}
			return last + up
		}
		families := []string{"cert_probe_success", "cert_expiry_exporter_source_up", "cert_expiry_exporter_source_last_success_timestamp_seconds"}
		e.await(t, up("lsel-a")+probed("lsel-a"), families...)

		setLabels(t, admin, "lsel-b", map[string]string{"lselteam": "web"})
		e.await(t, up("lsel-a", "lsel-b")+probed("lsel-a", "lsel-b"), families...)

		setLabels(t, admin, "lsel-a", map[string]string{"lselteam": "ops"})
		e.await(t, up("lsel-b")+probed("lsel-b"), families...)

		// Once (check) lists the selected namespaces' Ingresses and Gateways as Run does.
		cfg, err := config.Parse(fmt.Appendf(nil, "kubernetes: {kubeconfig: %q, namespaces: {label_selector: lselteam=web}, ingresses: {address: '%s'}, gateways: {address: '%s'}}\n",
			testkube.Kubeconfig(t, sa), srv.Addr, srv.Addr))
		if err != nil {
			t.Fatal(err)
		}
		snap := Ingresses.New(cfg, source.Env{Logger: slog.New(slog.DiscardHandler), Clock: clockwork.NewFakeClockAt(now)}).Once(t.Context())
		var got []string
		for _, st := range snap.Status {
			got = append(got, fmt.Sprintf("%s %s %t", st.Source, st.Name, st.Up))
		}
		for _, ch := range snap.Chains {
			got = append(got, "chain "+ch.Target)
		}
		want := []string{"kubernetes ingresses/namespaces/lselteam=web true", "kubernetes ingresses/lsel-b true", "kubernetes gateways/lsel-b true",
			"targets gw.lsel-b.lsel.example.test:" + srv.Port + " true", "targets ing.lsel-b.lsel.example.test:" + srv.Port + " true",
			"chain gw.lsel-b.lsel.example.test:" + srv.Port, "chain ing.lsel-b.lsel.example.test:" + srv.Port}
		if !slices.Equal(got, want) {
			t.Errorf("Once:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}

		// Without the right to list namespaces: one watch error (the kubernetes source's; the
		// Ingress source's namespace watch counts in its source_up only), nothing probed.
		noNS := c.ServiceAccountConfig(t, "lsel-b", "exporter", grants[1:]...)
		e = runExporter(t, noNS, "namespaces: {label_selector: lselteam=web}, ingresses: {}, gateways: {}", clockwork.NewFakeClockAt(now))
		e.await(t, watchErr(`cert_expiry_exporter_kubernetes_watch_error{namespace="*",reason="forbidden",resource="namespaces"} 1`+"\n")+
			"# HELP cert_expiry_exporter_source_up 1 when the source's last pass worked.\n"+
			"# TYPE cert_expiry_exporter_source_up gauge\n"+
			`cert_expiry_exporter_source_up{name="ingresses/namespaces/lselteam=web",source="kubernetes"} 0`+"\n"+
			`cert_expiry_exporter_source_up{name="namespaces/lselteam=web",source="kubernetes"} 0`+"\n",
			"cert_expiry_exporter_kubernetes_watch_error", "cert_expiry_exporter_source_up", "cert_probe_success")
	})
}

// setLabels replaces the labels of namespace ns.
func setLabels(t *testing.T, cs kubernetes.Interface, ns string, labels map[string]string) {
	t.Helper()
	n, err := cs.CoreV1().Namespaces().Get(t.Context(), ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Labels = labels
	if _, err := cs.CoreV1().Namespaces().Update(t.Context(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}
