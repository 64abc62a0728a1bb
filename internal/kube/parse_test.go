package kube

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

// render writes what parse kept of a Secret, one line per chain and per error, for exact
// comparison.
func render(s *objectCerts) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s/%s rv=%s\n", s.Namespace, s.Name, s.ResourceVersion)
	for _, c := range s.chains {
		cns := make([]string, len(c.Certs))
		for i, x := range c.Certs {
			cns[i] = x.Domain
		}
		fmt.Fprintf(&b, "chain %s %s/%s/%s certs=%s verify=%s labels=%v changed=%s\n", c.Source, c.Namespace, c.Secret, c.Key,
			strings.Join(cns, ","), c.Verify.Reason, c.Labels, c.Changed.UTC().Format(time.RFC3339))
	}
	for _, e := range s.errs {
		fmt.Fprintf(&b, "error %s %s: %s\n", e.Key, e.Reason, e.Message)
	}
	return b.String()
}

func TestParse(t *testing.T) {
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	pki := testcerts.NewPKI("Kube", now)
	leaf := pki.Leaf(testcerts.Options{CN: "shop.example.com", Now: now})
	other := testcerts.NewPKI("Other", now).Leaf(testcerts.Options{CN: "other.example.com", Now: now})
	created := metav1.NewTime(now.Add(-48 * time.Hour))
	written := metav1.NewTime(now.Add(-time.Hour))
	secret := func(data map[string][]byte) *corev1.Secret {
		return &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: "web", Name: "shop-tls", ResourceVersion: "42", CreationTimestamp: created,
				Labels:        map[string]string{"app.kubernetes.io/name": "shop"},
				Annotations:   map[string]string{"owner": strings.Repeat("é", 100)},
				ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "cert-manager", Time: &written}, {Manager: "kubectl"}},
			},
			Type: corev1.SecretTypeTLS,
			Data: data,
		}
	}
	cfg := &config.Kubernetes{
		Secrets:         config.KubeSecrets{Keys: []string{"tls.crt", "ca.crt", "*.p12", "*.pem"}},
		MaxValueSize:    4096,
		LiftLabels:      map[string]string{"app": "app.kubernetes.io/name", "missing": "nope"},
		LiftAnnotations: map[string]string{"owner": "owner"},
		Labels:          config.Labels{"cluster": "eu1"},
	}
	lifted := "[{app shop} {cluster eu1} {owner " + strings.Repeat("é", 64) + "}]" // 128 bytes
	head := "web/shop-tls rv=42\n"
	for _, tc := range []struct {
		name string
		data map[string][]byte
		want string
	}{
		{"leaf, intermediate and the CA in ca.crt", map[string][]byte{
			"tls.crt": testcerts.Bundle(leaf, pki.Intermediate), "tls.key": leaf.KeyPEM(), "ca.crt": pki.Root.PEM(),
		}, head +
			"chain kubernetes web/shop-tls/ca.crt certs=Kube Root CA verify=ok labels=" + lifted + " changed=2026-12-03T07:00:00Z\n" +
			"chain kubernetes web/shop-tls/tls.crt certs=shop.example.com,Kube Intermediate CA verify=ok labels=" + lifted + " changed=2026-12-03T07:00:00Z\n"},
		{"a chain not of the ca.crt CA, its intermediate missing", map[string][]byte{"tls.crt": other.PEM(), "ca.crt": pki.Root.PEM()}, head +
			"chain kubernetes web/shop-tls/ca.crt certs=Kube Root CA verify=ok labels=" + lifted + " changed=2026-12-03T07:00:00Z\n" +
			"chain kubernetes web/shop-tls/tls.crt certs=other.example.com verify=incomplete_chain labels=" + lifted + " changed=2026-12-03T07:00:00Z\n"},
		{"no ca.crt: the system roots", map[string][]byte{"tls.crt": testcerts.Bundle(leaf, pki.Intermediate)}, head +
			"chain kubernetes web/shop-tls/tls.crt certs=shop.example.com,Kube Intermediate CA verify=unknown_authority labels=" + lifted + " changed=2026-12-03T07:00:00Z\n"},
		{"keys not matched, private keys never read", map[string][]byte{
			"tls.key": leaf.KeyPEM(), "other": leaf.PEM(), "key.pem": leaf.KeyPEM(), "server.key": leaf.PEM(),
		}, head},
		{"garbage", map[string][]byte{"tls.crt": []byte("not a certificate")}, head +
			"error tls.crt parse: no certificate found\n"},
		{"empty", map[string][]byte{"tls.crt": {}}, head + "error tls.crt empty: empty file\n"},
		{"too large", map[string][]byte{"tls.crt": make([]byte, 4097)}, head +
			"error tls.crt too_large: 4097 bytes, more than max_value_size 4096\n"},
		{"PKCS#12 with another password", map[string][]byte{"keystore.p12": leaf.PKCS12("secret", pki.Intermediate)}, head +
			"error keystore.p12 password: PKCS#12: wrong or missing password\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &parser{cfg: cfg, password: "changeit", now: func() time.Time { return now }}
			if got := render(p.parse(secret(tc.data))); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

func TestParsePKCS12(t *testing.T) {
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	pki := testcerts.NewPKI("Kube", now)
	leaf := pki.Leaf(testcerts.Options{CN: "shop.example.com", Now: now})
	p := &parser{cfg: &config.Kubernetes{Secrets: config.KubeSecrets{Keys: []string{"*.p12"}}, MaxValueSize: 1 << 20},
		password: "changeit", now: func() time.Time { return now }}
	got := render(p.parse(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "pay", Name: "keystore", CreationTimestamp: metav1.NewTime(now)},
		Data:       map[string][]byte{"keystore.p12": leaf.PKCS12("changeit", pki.Intermediate), "ca.crt": pki.Root.PEM()},
	}))
	// ca.crt is not a matched key here: no chain of its own, but still the root the
	// keystore's chain is verified against.
	want := "pay/keystore rv=\n" +
		"chain kubernetes pay/keystore/keystore.p12 certs=shop.example.com,Kube Intermediate CA verify=ok labels=[] changed=2026-12-03T08:00:00Z\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// A Java keystore in a Secret is a chain per private key entry, keyed "<data key>/<alias>", so
// that each entry's leaf is index 0 (judged and paged), and one of its trusted entries.
func TestParseJKS(t *testing.T) {
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	pki := testcerts.NewPKI("Kube", now)
	api := pki.Leaf(testcerts.Options{CN: "api.example.com", Now: now})
	admin := pki.Leaf(testcerts.Options{CN: "admin.example.com", Now: now, NotAfter: now.Add(24 * time.Hour)})
	p := &parser{cfg: &config.Kubernetes{Secrets: config.KubeSecrets{Keys: []string{"*.jks"}}, MaxValueSize: 1 << 20},
		password: "changeit", now: func() time.Time { return now }}
	got := p.parse(&corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "pay", Name: "kafka", CreationTimestamp: metav1.NewTime(now)},
		Data: map[string][]byte{
			"keystore.jks": testcerts.JKS("changeit",
				testcerts.JKSEntry{Alias: "api", Key: true, Chain: []*testcerts.Cert{api, pki.Intermediate}},
				testcerts.JKSEntry{Alias: "admin", Key: true, Chain: []*testcerts.Cert{admin, pki.Intermediate}},
				testcerts.JKSEntry{Alias: "root", Chain: []*testcerts.Cert{pki.Root}}),
			"ca.crt": pki.Root.PEM(),
		},
	})
	want := "pay/kafka rv=\n" +
		"chain kubernetes pay/kafka/keystore.jks/admin certs=admin.example.com,Kube Intermediate CA verify=ok labels=[] changed=2026-12-03T08:00:00Z\n" +
		"chain kubernetes pay/kafka/keystore.jks/api certs=api.example.com,Kube Intermediate CA verify=ok labels=[] changed=2026-12-03T08:00:00Z\n" +
		"chain kubernetes pay/kafka/keystore.jks certs=Kube Root CA verify=ok labels=[] changed=2026-12-03T08:00:00Z\n"
	if r := render(got); r != want {
		t.Errorf("got\n%s\nwant\n%s", r, want)
	}
	var aliases []string
	for _, c := range got.chains {
		for _, x := range c.Certs {
			aliases = append(aliases, x.Alias)
		}
	}
	if want := "admin,admin,api,api,root"; strings.Join(aliases, ",") != want {
		t.Errorf("aliases %v, want %s", aliases, want)
	}
}

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exact", 5, "exact"},
		{"abcdef", 3, "abc"},
		{"aé", 2, "a"}, // é is two bytes: not cut in half
		{"éé", 3, "é"},
	} {
		if got := truncate(tc.in, tc.n); got != tc.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	pki := testcerts.NewPKI("Fuzz", now)
	leaf := pki.Leaf(testcerts.Options{Now: now})
	f.Add(testcerts.Bundle(leaf, pki.Intermediate), pki.Root.PEM())
	f.Add(leaf.PKCS12("pw"), []byte("garbage"))
	f.Add([]byte{}, leaf.KeyPEM())
	f.Add(testcerts.JKS("pw", testcerts.JKSEntry{Alias: "a", Key: true, Chain: []*testcerts.Cert{leaf, pki.Intermediate}},
		testcerts.JKSEntry{Alias: "b", Key: true, Chain: []*testcerts.Cert{leaf}}, testcerts.JKSEntry{Alias: "ca", Chain: []*testcerts.Cert{pki.Root}}), []byte{})
	p := &parser{cfg: &config.Kubernetes{Secrets: config.KubeSecrets{Keys: []string{"*"}}, MaxValueSize: 1 << 16},
		password: "pw", now: func() time.Time { return now }}
	f.Fuzz(func(t *testing.T, crt, ca []byte) {
		s := p.parse(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "n", Name: "s"},
			Data: map[string][]byte{"tls.crt": crt, "ca.crt": ca, "tls.key": crt}})
		if len(s.errs) > 2 {
			t.Fatalf("%d errors from two keys", len(s.errs))
		}
		keys := map[string]bool{}
		for _, c := range s.chains {
			// A keystore's private key entries are "<data key>/<alias>", each chain once.
			dataKey, _, _ := strings.Cut(c.Key, "/")
			if dataKey != "tls.crt" && dataKey != "ca.crt" || len(c.Certs) == 0 || keys[c.Key] {
				t.Fatalf("kept %+v", c.Location)
			}
			keys[c.Key] = true
		}
	})
}
