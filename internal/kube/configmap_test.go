package kube

import (
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

// renderConfigMap writes what parseConfigMap kept, one line per chain (each certificate's
// domain, CA flag and NotAfter) and per error, for exact comparison.
func renderConfigMap(c *objectCerts) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s/%s rv=%s until=%s\n", c.Namespace, c.Name, c.ResourceVersion, c.until.UTC().Format(time.RFC3339))
	for _, ch := range c.chains {
		xs := make([]string, len(ch.Certs))
		for i, x := range ch.Certs {
			xs[i] = fmt.Sprintf("%s(ca=%t,%s)", x.Domain, x.IsCA, x.NotAfter.UTC().Format(time.DateOnly))
		}
		fmt.Fprintf(&b, "chain %s %s/configmap=%s/secret=%s/%s certs=%s verify=%s labels=%v changed=%s\n", ch.Source, ch.Namespace, ch.ConfigMap, ch.Secret, ch.Key,
			strings.Join(xs, ","), ch.Verify.Reason, ch.Labels, ch.Changed.UTC().Format(time.RFC3339))
	}
	for _, e := range c.errs {
		fmt.Fprintf(&b, "error %s %s: %s\n", e.Key, e.Reason, e.Message)
	}
	return b.String()
}

// TestParseConfigMap: every matching key of data and binaryData is one bundle of CAs, its own
// trust store; the other keys are not read; a key without a certificate is an error.
func TestParseConfigMap(t *testing.T) {
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	ca := func(cn string, notBefore, notAfter time.Time) *testcerts.Cert {
		return testcerts.New(testcerts.Options{CN: cn, IsCA: true, NotBefore: notBefore, NotAfter: notAfter, Serial: big.NewInt(1)})
	}
	old := ca("Old Root CA", now.AddDate(-9, 0, 0), now.AddDate(0, 0, 20))
	next := ca("New Root CA", now.AddDate(0, -1, 0), now.AddDate(10, 0, 0))
	expired := ca("Expired Root CA", now.AddDate(-5, 0, 0), now.AddDate(0, 0, -1))
	future := ca("Future Root CA", now.Add(time.Hour), now.AddDate(10, 0, 0))
	pki := testcerts.NewPKI("Kube", now)
	// A pinned server certificate: no CA, still a trust anchor of whoever reads the bundle.
	pinned := pki.Leaf(testcerts.Options{CN: "legacy.example.com", Now: now})
	created := metav1.NewTime(now.Add(-48 * time.Hour))
	written := metav1.NewTime(now.Add(-time.Hour))
	configMap := func(data map[string]string, binary map[string][]byte) *corev1.ConfigMap {
		return &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{
				Namespace: "web", Name: "trust", ResourceVersion: "7", CreationTimestamp: created,
				Labels:        map[string]string{"app.kubernetes.io/name": "shop"},
				ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "trust-manager", Time: &written}},
			},
			Data: data, BinaryData: binary,
		}
	}
	cfg := &config.Kubernetes{
		ConfigMaps:   &config.KubeConfigMaps{Keys: []string{"*.crt", "*.pem", "*.p12", "*.der"}},
		MaxValueSize: 8192,
		LiftLabels:   map[string]string{"app": "app.kubernetes.io/name"},
		Labels:       config.Labels{"cluster": "eu1"},
	}
	const labels = "labels=[{app shop} {cluster eu1}] changed=2026-12-03T07:00:00Z"
	// until: the first bound of a bundle's first certificate (the old root's end, 20 days on).
	head := "web/trust rv=7 until=2026-12-23T08:00:00Z\n"
	for _, tc := range []struct {
		name   string
		data   map[string]string
		binary map[string][]byte
		want   string
	}{
		{"a bundle of two CAs, in rotation", map[string]string{"ca.crt": string(testcerts.Bundle(old, next)), "config.yaml": "a: b"}, nil, head +
			"chain kubernetes web/configmap=trust/secret=/ca.crt certs=Old Root CA(ca=true,2026-12-23),New Root CA(ca=true,2036-12-03) verify=ok " + labels + "\n"},
		{"data and binaryData, sorted by key", map[string]string{"z.pem": string(next.PEM())},
			map[string][]byte{"a.der": old.DER, "truststore.p12": testcerts.TrustStore("", old, next)}, head +
				"chain kubernetes web/configmap=trust/secret=/a.der certs=Old Root CA(ca=true,2026-12-23) verify=ok " + labels + "\n" +
				"chain kubernetes web/configmap=trust/secret=/truststore.p12 certs=Old Root CA(ca=true,2026-12-23),New Root CA(ca=true,2036-12-03) verify=ok " + labels + "\n" +
				"chain kubernetes web/configmap=trust/secret=/z.pem certs=New Root CA(ca=true,2036-12-03) verify=ok " + labels + "\n"},
		// The verdict is the first certificate's validity: the others are anchors of their own.
		// Expired, it stays so: no bound to relist at.
		{"an expired CA first", map[string]string{"ca.crt": string(testcerts.Bundle(expired, next))}, nil, "web/trust rv=7 until=0001-01-01T00:00:00Z\n" +
			"chain kubernetes web/configmap=trust/secret=/ca.crt certs=Expired Root CA(ca=true,2026-12-02),New Root CA(ca=true,2036-12-03) verify=expired " + labels + "\n"},
		{"a CA not valid yet", map[string]string{"ca.crt": string(future.PEM())}, nil, "web/trust rv=7 until=2026-12-03T09:00:00Z\n" +
			"chain kubernetes web/configmap=trust/secret=/ca.crt certs=Future Root CA(ca=true,2036-12-03) verify=not_yet_valid " + labels + "\n"},
		{"a pinned leaf", map[string]string{"pinned.pem": string(pinned.PEM())}, nil, "web/trust rv=7 until=2027-03-03T07:00:00Z\n" +
			"chain kubernetes web/configmap=trust/secret=/pinned.pem certs=legacy.example.com(ca=false,2027-03-03) verify=ok " + labels + "\n"},
		{"a broken block between two CAs", map[string]string{"ca.crt": string(old.PEM()) + "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n" + string(next.PEM())}, nil, head +
			"chain kubernetes web/configmap=trust/secret=/ca.crt certs=Old Root CA(ca=true,2026-12-23),New Root CA(ca=true,2036-12-03) verify=ok " + labels + "\n" +
			"error ca.crt parse: PEM block 1: x509: malformed certificate\n"},
		{"keys not matched", map[string]string{"ca.key": string(old.PEM()), "bundle": string(old.PEM())}, map[string][]byte{"blob": old.DER}, "web/trust rv=7 until=0001-01-01T00:00:00Z\n"},
		{"a private key under a matching name", map[string]string{"key.pem": string(pinned.KeyPEM())}, nil, "web/trust rv=7 until=0001-01-01T00:00:00Z\n"},
		{"garbage", map[string]string{"ca.crt": "not a certificate"}, nil, "web/trust rv=7 until=0001-01-01T00:00:00Z\n" +
			"error ca.crt parse: no certificate found\n"},
		{"empty", map[string]string{"ca.crt": ""}, nil, "web/trust rv=7 until=0001-01-01T00:00:00Z\nerror ca.crt empty: empty file\n"},
		{"too large", nil, map[string][]byte{"ca.der": make([]byte, 8193)}, "web/trust rv=7 until=0001-01-01T00:00:00Z\n" +
			"error ca.der too_large: 8193 bytes, more than max_value_size 8192\n"},
		{"a trust store with a password", nil, map[string][]byte{"truststore.p12": testcerts.TrustStore("changeit", old)}, "web/trust rv=7 until=0001-01-01T00:00:00Z\n" +
			"error truststore.p12 password: PKCS#12: wrong or missing password\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &parser{cfg: cfg, password: "changeit", now: func() time.Time { return now }}
			if got := renderConfigMap(p.parseConfigMap(configMap(tc.data, tc.binary))); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// FuzzParseConfigMap: any value under any key keeps at most one chain or error per matching
// key, never an empty chain, and never a key that does not match.
func FuzzParseConfigMap(f *testing.F) {
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	pki := testcerts.NewPKI("Fuzz", now)
	f.Add("ca.crt", testcerts.Bundle(pki.Root, pki.Intermediate), []byte("garbage"))
	f.Add("trust.pem", pki.Root.DER, testcerts.TrustStore("", pki.Root))
	f.Add("other", []byte{}, pki.Leaf(testcerts.Options{Now: now}).KeyPEM())
	p := &parser{cfg: &config.Kubernetes{ConfigMaps: &config.KubeConfigMaps{Keys: []string{"*.crt", "*.pem"}}, MaxValueSize: 1 << 16},
		now: func() time.Time { return now }}
	f.Fuzz(func(t *testing.T, key string, data, binary []byte) {
		c := p.parseConfigMap(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "n", Name: "c"},
			Data: map[string]string{key: string(data), "ca.crt": string(binary)}, BinaryData: map[string][]byte{"bin.pem": binary, key + ".crt": data}})
		seen := map[string]int{}
		for _, ch := range c.chains {
			seen[ch.Key]++
			if len(ch.Certs) == 0 || ch.ConfigMap != "c" || ch.Secret != "" || !p.matchesConfigMap(ch.Key) || seen[ch.Key] > 1 {
				t.Fatalf("kept %+v with %d certificates", ch.Location, len(ch.Certs))
			}
		}
		for _, e := range c.errs {
			if !p.matchesConfigMap(e.Key) || !slices.Contains(ConfigMapReasons, e.Reason) {
				t.Fatalf("error %+v", e)
			}
		}
	})
}
