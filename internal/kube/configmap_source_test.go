package kube

import (
	"math/big"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testkube"
)

// testConfigMaps runs kubernetes.configmaps against the API server of TestSource, as a service
// account with exactly the rights docs/kubernetes.md gives it: list and watch on Secrets and on
// ConfigMaps.
func testConfigMaps(t *testing.T, c *testkube.Cluster, admin kubernetes.Interface) {
	rules := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"list", "watch"}},
		{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"list", "watch"}}}
	// Two roots in rotation, as trust-manager bundles them: the old one ends 2027-01-01, the new
	// one 2027-02-01 (fixed serials, so that the series are).
	oldCA := testcerts.New(testcerts.Options{CN: "Old Root CA", IsCA: true, Serial: big.NewInt(0x51), NotBefore: now.AddDate(-5, 0, 0), NotAfter: jan})
	newCA := testcerts.New(testcerts.Options{CN: "New Root CA", IsCA: true, Serial: big.NewInt(0x52), NotBefore: now.AddDate(0, -1, 0), NotAfter: feb})
	const selector = "trust.example.test/bundle=true"
	configMap := func(ns, name string, labelled bool, data map[string]string) *corev1.ConfigMap {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: data}
		if labelled {
			cm.Labels = map[string]string{"trust.example.test/bundle": "true"}
		}
		return cm
	}
	createCM := func(t *testing.T, cm *corev1.ConfigMap) {
		t.Helper()
		if _, err := admin.CoreV1().ConfigMaps(cm.Namespace).Create(t.Context(), cm, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// The families a bundle shows: the expiry of each of its certificates besides the health.
	families := append([]string{"cert_expiry_seconds"}, exposed...)

	t.Run("configmaps", func(t *testing.T) {
		c.EnsureNamespace(t, "trust")
		bundle := string(testcerts.Bundle(oldCA, newCA))
		createCM(t, configMap("trust", "bundle", true, map[string]string{"ca.crt": bundle, "config.yaml": "not: read"}))
		createCM(t, configMap("trust", "broken", true, map[string]string{"ca.crt": "not a certificate"}))
		// Not labelled: the API server does not send it.
		createCM(t, configMap("trust", "unlabelled", false, map[string]string{"ca.crt": bundle}))
		sa := c.ServiceAccountConfig(t, "trust", "exporter", testkube.Grant{Namespace: "trust", Rules: rules})
		latest := run(t, sa, defaultPageSize, "namespaces: {include: [trust]}, configmaps: {label_selector: '"+selector+"'}", nil)
		const loc = `configmap="bundle",`
		// Each CA of the bundle is its own series (index; the registry orders them by domain); as
		// for a files: CA bundle, cert_expiry_seconds is the first certificate's only.
		const bundleSeries = `# HELP cert_expiry_seconds Seconds until the certificate's NotAfter, computed at scrape time; negative when expired.
# TYPE cert_expiry_seconds gauge
cert_expiry_seconds{` + loc + `domain="Old Root CA",index="0",issuer="Old Root CA",key="ca.crt",namespace="trust",serial="51",source="kubernetes"} 2.4696e+06
# HELP cert_not_after_timestamp_seconds Certificate NotAfter as a Unix timestamp.
# TYPE cert_not_after_timestamp_seconds gauge
cert_not_after_timestamp_seconds{` + loc + `domain="New Root CA",index="1",issuer="New Root CA",key="ca.crt",namespace="trust",serial="52",source="kubernetes"} 1.80144e+09
cert_not_after_timestamp_seconds{` + loc + `domain="Old Root CA",index="0",issuer="Old Root CA",key="ca.crt",namespace="trust",serial="51",source="kubernetes"} 1.7987616e+09
`
		const brokenSeries = `# HELP cert_expiry_exporter_kubernetes_configmap_error 1 per ConfigMap key that holds no CA certificate, with the reason.
# TYPE cert_expiry_exporter_kubernetes_configmap_error gauge
cert_expiry_exporter_kubernetes_configmap_error{configmap="broken",key="ca.crt",namespace="trust",reason="parse"} 1
`
		up := status("configmaps/trust 1 "+nowSeconds, "trust 1 "+nowSeconds)
		awaitFamilies(t, latest, families, brokenSeries+up+bundleSeries)
		// /certificates and check name the broken key.
		snap, _ := latest.Get()
		if want := []source.Problem{{Source: "kubernetes", Where: "ConfigMap trust/broken key ca.crt", Reason: "parse", Message: "no certificate found"}}; !slices.Equal(snap.Problems, want) {
			t.Errorf("problems %+v, want %+v", snap.Problems, want)
		}

		// A deleted ConfigMap takes its series with it.
		if err := admin.CoreV1().ConfigMaps("trust").Delete(t.Context(), "bundle", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		awaitFamilies(t, latest, families, brokenSeries+up)
		if err := admin.CoreV1().ConfigMaps("trust").Delete(t.Context(), "broken", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		awaitFamilies(t, latest, families, up)

		// Labelled in, a ConfigMap arrives; labelled out, it goes as if deleted.
		relabel := func(labelled bool) {
			t.Helper()
			cm, err := admin.CoreV1().ConfigMaps("trust").Get(t.Context(), "unlabelled", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			cm.Labels = configMap("trust", "unlabelled", labelled, nil).Labels
			if _, err := admin.CoreV1().ConfigMaps("trust").Update(t.Context(), cm, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		relabel(true)
		awaitFamilies(t, latest, families, up+strings.ReplaceAll(bundleSeries, loc, `configmap="unlabelled",`))
		relabel(false)
		awaitFamilies(t, latest, families, up)
	})

	// Without the rights on ConfigMaps (the shipped RBAC leaves them out), their watch is down
	// alone: the Secrets of the namespace are still read.
	t.Run("configmaps forbidden", func(t *testing.T) {
		c.EnsureNamespace(t, "trust-denied")
		sa := c.ServiceAccountConfig(t, "trust-denied", "exporter", testkube.Grant{Namespace: "trust-denied", Rules: rules[:1]})
		latest := run(t, sa, defaultPageSize, "namespaces: {include: [trust-denied]}, configmaps: {}", nil)
		awaitFamilies(t, latest, families, `# HELP cert_expiry_exporter_kubernetes_watch_error 1 per namespace (* for the cluster-wide watch) and resource (secrets, configmaps, namespaces, ingresses, gateways, certificates, orders, challenges) that cannot be listed or watched, with the reason.
# TYPE cert_expiry_exporter_kubernetes_watch_error gauge
cert_expiry_exporter_kubernetes_watch_error{namespace="trust-denied",reason="forbidden",resource="configmaps"} 1
`+status("configmaps/trust-denied 0 -", "trust-denied 1 "+nowSeconds))
	})
}
