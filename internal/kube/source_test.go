package kube

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/collector"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/inventory"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testkube"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testwait"
)

// now is the source's (fake) clock and the scrape time; the certificates are made around it.
var now = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)

// exposed are the families the goldens show: the certificates' validity and the source's
// health (cert_info and the chain series carry the Secret's write time, which is real).
var exposed = []string{
	"cert_not_after_timestamp_seconds",
	"cert_expiry_exporter_source_up",
	"cert_expiry_exporter_source_last_success_timestamp_seconds",
	"cert_expiry_exporter_kubernetes_watch_error",
	"cert_expiry_exporter_kubernetes_secret_error",
}

// expose publishes snap as the exporter does and returns the exposition of the exposed
// families.
func expose(t *testing.T, snap *source.Snapshot) string {
	t.Helper()
	store := inventory.New("kubernetes")
	store.Restart("kubernetes", true)(snap)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collector.New(store, func() time.Time { return now }))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	for _, mf := range mfs {
		for _, f := range exposed {
			if mf.GetName() == f {
				if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return buf.String()
}

// run starts the source with the kubernetes: section body (YAML flow mappings, e.g.
// `namespaces: {include: [a]}`) against the cluster as cred, and returns its latest snapshot
// holder; the source stops when the test ends.
func run(t *testing.T, cred *rest.Config, section string) *testwait.Latest[*source.Snapshot] {
	t.Helper()
	cfg, err := config.Parse(fmt.Appendf(nil, "kubernetes: {kubeconfig: %q, %s}\n", testkube.Kubeconfig(t, cred), section))
	if err != nil {
		t.Fatal(err)
	}
	src := Factory.New(cfg, source.Env{Logger: slog.New(slog.DiscardHandler), Clock: clockwork.NewFakeClockAt(now)})
	var latest testwait.Latest[*source.Snapshot]
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		src.Run(ctx, latest.Set)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return &latest
}

// awaitExposition waits until the latest snapshot renders as want.
func awaitExposition(t *testing.T, latest *testwait.Latest[*source.Snapshot], want string) {
	t.Helper()
	var got string
	testwait.Until(t, func() error {
		snap, ok := latest.Get()
		if !ok {
			return errNotYet("no snapshot published")
		}
		if got = expose(t, snap); got != want {
			return errNotYet("exposition:\n" + got + "\nwant:\n" + want)
		}
		return nil
	})
}

type errNotYet string

func (e errNotYet) Error() string { return string(e) }

// tlsSecret is a kubernetes.io/tls Secret of a leaf valid until notAfter (serial fixed, so the
// series are), with ca.crt.
func tlsSecret(ns, name string, serial int64, notAfter time.Time, pki *testcerts.PKI) *corev1.Secret {
	leaf := pki.Leaf(testcerts.Options{CN: name + ".example.test", DNSNames: []string{name + ".example.test"},
		Serial: big.NewInt(serial), NotBefore: now.Add(-24 * time.Hour), NotAfter: notAfter})
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Type:       corev1.SecretTypeTLS,
		Data: map[string][]byte{
			corev1.TLSCertKey: testcerts.Bundle(leaf, pki.Intermediate), corev1.TLSPrivateKeyKey: leaf.KeyPEM(),
			"ca.crt": pki.Root.PEM(),
		},
	}
}

func create(t *testing.T, cs kubernetes.Interface, s *corev1.Secret) {
	t.Helper()
	if _, err := cs.CoreV1().Secrets(s.Namespace).Create(t.Context(), s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestSource runs the source against one real API server (its start is the cost: a few
// seconds), each subtest in namespaces of its own.
func TestSource(t *testing.T) {
	c := testkube.Start(t)
	admin := c.Clientset(t)
	pki := testcerts.NewPKI("Kube", now)
	jan, feb := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)

	t.Run("create update delete", func(t *testing.T) {
		c.EnsureNamespace(t, "life")
		latest := run(t, c.Config(), "namespaces: {include: [life]}")
		up := `# HELP cert_expiry_exporter_source_last_success_timestamp_seconds When the source last worked.
# TYPE cert_expiry_exporter_source_last_success_timestamp_seconds gauge
cert_expiry_exporter_source_last_success_timestamp_seconds{name="life",source="kubernetes"} 1.796292e+09
# HELP cert_expiry_exporter_source_up 1 when the source's last pass worked.
# TYPE cert_expiry_exporter_source_up gauge
cert_expiry_exporter_source_up{name="life",source="kubernetes"} 1
`
		awaitExposition(t, latest, up)

		create(t, admin, tlsSecret("life", "web", 1001, jan, pki))
		// The leaf and the intermediate of tls.crt; ca.crt is only the root (not a default key).
		withWeb := func(serial, notAfter string) string {
			return `# HELP cert_not_after_timestamp_seconds Certificate NotAfter as a Unix timestamp.
# TYPE cert_not_after_timestamp_seconds gauge
` + strings.ReplaceAll(strings.ReplaceAll(`cert_not_after_timestamp_seconds{index="0",issuer="Kube Intermediate CA",key="tls.crt",namespace="life",secret="web",serial="SERIAL",source="kubernetes"} NOTAFTER
`, "SERIAL", serial), "NOTAFTER", notAfter) + intermediate(t, pki, "life", "web") + up
		}
		awaitExposition(t, latest, withWeb("03e9", "1.7986176e+09"))

		// An update is a new certificate (cert-manager renews in place).
		s := tlsSecret("life", "web", 1002, feb, pki)
		if _, err := admin.CoreV1().Secrets("life").Update(t.Context(), s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		awaitExposition(t, latest, withWeb("03ea", "1.8012960e+09"))

		if err := admin.CoreV1().Secrets("life").Delete(t.Context(), "web", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		awaitExposition(t, latest, up)
	})
}

// intermediate is the not-after series of pki's intermediate in ns/secret's tls.crt.
func intermediate(t *testing.T, pki *testcerts.PKI, ns, secret string) string {
	t.Helper()
	return ""
}
