package kube

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/collector"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/inventory"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testkube"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testserver"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testwait"
)

// exporter is the kubernetes and kubernetes_ingresses sources of one config publishing into
// one store, as the exporter runs them, on one fake clock.
type exporter struct {
	store *inventory.Store
	clock *clockwork.FakeClock
}

// runExporter starts both sources with the kubernetes: section body against the cluster as
// cred; they stop when the test ends.
func runExporter(t *testing.T, cred *rest.Config, section string, clock *clockwork.FakeClock) *exporter {
	t.Helper()
	cfg, err := config.Parse(fmt.Appendf(nil, "kubernetes: {kubeconfig: %q, %s}\n", testkube.Kubeconfig(t, cred), section))
	if err != nil {
		t.Fatal(err)
	}
	e := &exporter{store: inventory.New(Factory.Name, Ingresses.Name), clock: clock}
	e.store.SetGrace(time.Duration(cfg.Drift.GracePeriod))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	for _, f := range []source.Factory{Factory, Ingresses} {
		src := f.New(cfg, source.Env{Logger: slog.New(slog.DiscardHandler), Clock: clock})
		publish := e.store.Restart(f.Name, true)
		go func() {
			defer func() { done <- struct{}{} }()
			src.Run(ctx, publish)
		}()
	}
	t.Cleanup(func() {
		cancel()
		<-done
		<-done
	})
	return e
}

// families renders the named families of the store at the clock's time.
func (e *exporter) families(t *testing.T, families ...string) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collector.New(e.store, e.clock.Now))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, mf := range mfs {
		if slices.Contains(families, mf.GetName()) {
			if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
				t.Fatal(err)
			}
		}
	}
	return buf.String()
}

// await waits until the named families render as want.
func (e *exporter) await(t *testing.T, want string, families ...string) {
	t.Helper()
	testwait.Until(t, func() error {
		if got := e.families(t, families...); got != want {
			return errNotYet("exposition:\n" + got + "\nwant:\n" + want)
		}
		return nil
	})
}

// ingress is an Ingress whose TLS section names hosts, served from the Secret secret.
func ingress(ns, name, secret string, hosts ...string) *networkingv1.Ingress {
	return &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: networkingv1.IngressSpec{
			TLS: []networkingv1.IngressTLS{{Hosts: hosts, SecretName: secret}},
			// A rule, as real Ingresses have: it is not what makes the targets.
			DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}},
		},
	}
}

// createIngress creates ing and writes its load balancer address as a controller does (the
// status subresource).
func createIngress(t *testing.T, cs kubernetes.Interface, ing *networkingv1.Ingress, lbIP string) {
	t.Helper()
	got, err := cs.NetworkingV1().Ingresses(ing.Namespace).Create(t.Context(), ing, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if lbIP == "" {
		return
	}
	got.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: lbIP}}
	if _, err := cs.NetworkingV1().Ingresses(ing.Namespace).UpdateStatus(t.Context(), got, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// testIngresses runs the kubernetes.ingresses source against the cluster of TestSource.
func testIngresses(t *testing.T, c *testkube.Cluster, admin kubernetes.Interface, pki *testcerts.PKI) {
	// The Secret the Ingress names holds the renewed certificate (issued a day ago, with one
	// name more) and the controller, a loopback TLS server, still serves the one before it
	// (issued two days ago): after the grace it is cert_served_outdated, until the controller
	// serves the new one. A copy of the old certificate in another Secret (as reflector makes)
	// is not what the Ingress serves: no pair, though its names are the served ones.
	t.Run("ingress serves an outdated certificate", func(t *testing.T) {
		c.EnsureNamespace(t, "ing")
		const host = "web.example.test"
		leaf := func(serial int64, issued time.Time, names ...string) *testcerts.Cert {
			return pki.Leaf(testcerts.Options{CN: host, DNSNames: append([]string{host}, names...), Serial: big.NewInt(serial), NotBefore: issued, NotAfter: feb})
		}
		old, renewed := leaf(3001, now.Add(-48*time.Hour)), leaf(3002, now.Add(-24*time.Hour), "api.example.test")
		for name, c := range map[string]*testcerts.Cert{"web": renewed, "mirror": old} {
			create(t, admin, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ing", Name: name}, Type: corev1.SecretTypeTLS,
				Data: map[string][]byte{corev1.TLSCertKey: testcerts.Bundle(c, pki.Intermediate), corev1.TLSPrivateKeyKey: c.KeyPEM()}})
		}
		var serving atomic.Pointer[tls.Certificate]
		oldTLS, renewedTLS := old.TLS(), renewed.TLS()
		serving.Store(&oldTLS)
		srv := testserver.Serve(t, "127.0.0.1:0", testserver.HandleTLS(&tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return serving.Load(), nil
		}}))
		createIngress(t, admin, ingress("ing", "web", "web", host, "*.example.test"), "127.0.0.1")

		// The Secret's write time (the drift's start) is the API server's: the clock starts at it.
		clock := clockwork.NewFakeClockAt(time.Now())
		// With the rights of examples/kubernetes/rbac.yaml.
		sa := c.ServiceAccountConfig(t, "ing", "exporter", testkube.Grant{Rules: testkube.ClusterRoleRules(t, shippedRBAC)})
		e := runExporter(t, sa, "namespaces: {include: [ing]}, ingresses: {port: "+srv.Port+", interval: 1m}", clock)
		target := host + ":" + srv.Port
		drift := func(v string) string {
			return "# HELP cert_served_outdated 1 when the endpoint serves an older certificate than the file or Secret it is to serve holds (the Secret its Ingress or Gateway names, else any with the same names), for longer than drift.grace_period; 0 while it matches.\n" +
				"# TYPE cert_served_outdated gauge\n" +
				`cert_served_outdated{domain="` + host + `",ip="127.0.0.1",key="tls.crt",lineage="",namespace="ing",path="",secret="web",target="` + target + `"} ` + v + "\n"
		}
		probeOK := "# HELP cert_probe_success 1 when the TCP connect, STARTTLS and TLS handshake succeeded (verification is reported separately).\n" +
			"# TYPE cert_probe_success gauge\n" +
			`cert_probe_success{ip="127.0.0.1",module="tls",target="` + target + `"} 1` + "\n"
		// Within the grace: 0.
		e.await(t, probeOK+drift("0"), "cert_served_outdated", "cert_probe_success")

		// Past the grace, the next probe still sees the old certificate.
		clock.BlockUntilContext(t.Context(), 1) // the target's next probe is scheduled
		clock.Advance(2 * time.Hour)
		e.await(t, probeOK+drift("1"), "cert_served_outdated", "cert_probe_success")

		// The controller reloads: the next probe sees the Secret's certificate.
		serving.Store(&renewedTLS)
		clock.BlockUntilContext(t.Context(), 1)
		clock.Advance(2 * time.Minute)
		e.await(t, probeOK+drift("0"), "cert_served_outdated", "cert_probe_success")

		// The Ingress deleted: its host is no target any more, its series are gone.
		if err := admin.NetworkingV1().Ingresses("ing").Delete(t.Context(), "web", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		e.await(t, "", "cert_served_outdated", "cert_probe_success")
	})

	// Without rights on ingresses the Ingress watch fails on its own: a watch error and its
	// source_up 0, while the Secrets are read.
	t.Run("ingresses forbidden", func(t *testing.T) {
		c.EnsureNamespace(t, "ingdenied")
		create(t, admin, tlsSecret(corev1.SecretTypeTLS, "ingdenied", "web", 3003, jan, pki))
		createIngress(t, admin, ingress("ingdenied", "web", "web", "denied.example.test"), "127.0.0.1")
		sa := c.ServiceAccountConfig(t, "ingdenied", "exporter", testkube.Grant{Namespace: "ingdenied",
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"list", "watch"}}}})
		e := runExporter(t, sa, "namespaces: {include: [ingdenied]}, ingresses: {}", clockwork.NewFakeClockAt(now))
		e.await(t, `# HELP cert_expiry_exporter_kubernetes_watch_error 1 per namespace (* for the cluster-wide watch) and resource (secrets, configmaps, namespaces, ingresses, gateways, certificates, orders, challenges) that cannot be listed or watched, with the reason.
# TYPE cert_expiry_exporter_kubernetes_watch_error gauge
cert_expiry_exporter_kubernetes_watch_error{namespace="ingdenied",reason="forbidden",resource="ingresses"} 1
`+status("ingdenied 1 "+nowSeconds, "ingresses/ingdenied 0 -")+notAfter(chainSeries(pki, "ingdenied", "web", "bbb", "1.7987616e+09")),
			"cert_expiry_exporter_kubernetes_watch_error", "cert_expiry_exporter_source_up", "cert_expiry_exporter_source_last_success_timestamp_seconds", "cert_not_after_timestamp_seconds")
	})
}
