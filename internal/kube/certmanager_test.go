package kube

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certmanager"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testkube"
)

// certificateJSON is a Certificate of ns writing Secret <name>-tls for <name>.example.test.
func certificateJSON(ns, name string) string {
	return `{"apiVersion":"cert-manager.io/v1","kind":"Certificate","metadata":{"namespace":"` + ns + `","name":"` + name + `"},
	"spec":{"secretName":"` + name + `-tls","dnsNames":["` + name + `.example.test"],"issuerRef":{"name":"letsencrypt","kind":"ClusterIssuer","group":"cert-manager.io"}}}`
}

// Statuses of Certificate shop as cert-manager's controllers write them (the readiness and
// issuing controllers, pkg/controller/certificates): issued and up to date; a renewal whose
// request failed on an invalid Order (Issuing=False, Ready stays True while the old
// certificate is valid); between that failure and the retry (Issuing gone, the failure
// recorded); renewed (lastFailureTime cleared).
const (
	readyCondition = `{"type":"Ready","status":"True","reason":"Ready","message":"Certificate is up to date and has not expired","observedGeneration":1,"lastTransitionTime":"2026-11-03T10:00:00Z"}`
	shopReady      = `{"conditions":[` + readyCondition + `],
	"notBefore":"2026-11-03T10:00:00Z","notAfter":"2027-01-01T00:00:00Z","renewalTime":"2026-12-02T10:00:00Z","revision":1}`
	shopFailing = `{"conditions":[` + readyCondition + `,
	{"type":"Issuing","status":"False","reason":"Failed","message":"The certificate request has failed to complete and will be retried: Failed to wait for order resource \"shop-2-3514128424\" to become ready: order is in \"invalid\" state: ","observedGeneration":1,"lastTransitionTime":"2026-12-02T10:05:00Z"}],
	"notBefore":"2026-11-03T10:00:00Z","notAfter":"2027-01-01T00:00:00Z","renewalTime":"2026-12-02T10:00:00Z","revision":1,
	"lastFailureTime":"2026-12-02T10:05:00Z","failedIssuanceAttempts":1}`
	shopBetweenRetries = `{"conditions":[` + readyCondition + `],
	"notBefore":"2026-11-03T10:00:00Z","notAfter":"2027-01-01T00:00:00Z","renewalTime":"2026-12-02T10:00:00Z","revision":1,
	"lastFailureTime":"2026-12-02T10:05:00Z","failedIssuanceAttempts":1}`
	shopRenewed = `{"conditions":[` + readyCondition + `],
	"notBefore":"2026-12-03T09:00:00Z","notAfter":"2027-03-03T09:00:00Z","renewalTime":"2027-02-01T09:00:00Z","revision":2}`
)

// The Order of the failed request (named after it, carrying its annotations) and its DNS-01
// Challenge, as the ACME controllers leave them once the CA marked the authorization invalid.
const (
	shopOrder = `{"apiVersion":"acme.cert-manager.io/v1","kind":"Order","metadata":{"namespace":"cm","name":"shop-2-3514128424",
	"annotations":{"cert-manager.io/certificate-name":"shop","cert-manager.io/certificate-revision":"2","cert-manager.io/private-key-secret-name":"shop-tls-x7k2p"}},
	"spec":{"request":"LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0K","issuerRef":{"name":"letsencrypt","kind":"ClusterIssuer","group":"cert-manager.io"},"dnsNames":["shop.example.test"]}}`
	shopOrderInvalid = `{"state":"invalid","url":"https://acme.example/order/1","finalizeURL":"https://acme.example/finalize/1","failureTime":"2026-12-02T10:05:00Z"}`
	shopChallenge    = `{"apiVersion":"acme.cert-manager.io/v1","kind":"Challenge","metadata":{"namespace":"cm","name":"shop-2-3514128424-2705829930",
	"ownerReferences":[{"apiVersion":"acme.cert-manager.io/v1","kind":"Order","name":"shop-2-3514128424","uid":"%UID%","controller":true,"blockOwnerDeletion":true}]},
	"spec":{"type":"DNS-01","dnsName":"shop.example.test","authorizationURL":"https://acme.example/authz/1","url":"https://acme.example/chall/1","token":"tok","key":"key",
	"issuerRef":{"name":"letsencrypt","kind":"ClusterIssuer","group":"cert-manager.io"},"solver":{"dns01":{"webhook":{"groupName":"acme.example","solverName":"x"}}}}}`
	shopChallengeInvalid = `{"processing":false,"presented":false,"state":"invalid",
	"reason":"Error accepting authorization: acme: authorization error for shop.example.test: 400 urn:ietf:params:acme:error:dns: DNS problem: NXDOMAIN looking up TXT for _acme-challenge.shop.example.test - check that a DNS record exists for this domain"}`
)

// renewalFailure is the cert_renewal_failure family of the given series.
func renewalFailure(series ...string) string {
	return "# HELP cert_renewal_failure 1 while the lineage's latest renewal attempt failed, with that failure's reason; 0 (reason none) after a success.\n" +
		"# TYPE cert_renewal_failure gauge\n" + strings.Join(series, "")
}

// shopSeries is the renewal series of Certificate cm/shop.
func shopSeries(reason string) string {
	v := "1"
	if reason == "none" {
		v = "0"
	}
	return `cert_renewal_failure{client="cert-manager",domain="shop.example.test",lineage="cm/shop",reason="` + reason + `"} ` + v + "\n"
}

// testCertManager runs the cert-manager subtests on c, whose cert-manager CRDs are installed.
func testCertManager(t *testing.T, c *testkube.Cluster, admin kubernetes.Interface, pki *testcerts.PKI) {
	t.Run("cert-manager renewal", func(t *testing.T) {
		c.EnsureNamespace(t, "cm")
		// The Secret cert-manager wrote for Certificate shop: its chains are the lineage's.
		secret := tlsSecret(corev1.SecretTypeTLS, "cm", "shop-tls", 3001, jan, pki)
		secret.Annotations = map[string]string{certmanager.CertificateNameAnnotation: "shop", "cert-manager.io/issuer-name": "letsencrypt"}
		create(t, admin, secret)
		c.Create(t, testkube.CertificateGVR, certificateJSON("cm", "shop"), shopReady)
		latest := run(t, c.Config(), defaultPageSize, "namespaces: {include: [cm]}, cert_manager: {}", nil)
		chains := notAfter(strings.ReplaceAll(chainSeries(pki, "cm", "shop-tls", "bb9", "1.7987616e+09"), `key="tls.crt",`, `key="tls.crt",lineage="cm/shop",`))
		up := status("cert-manager/cm 1 "+nowSeconds, "cm 1 "+nowSeconds)
		awaitExposition(t, latest, up+chains+renewalFailure(shopSeries("none")))

		// The renewal fails on an invalid Order whose DNS-01 Challenge the CA refused: the
		// Certificate only says `order is in "invalid" state`, the Challenge says why.
		order := c.Create(t, testkube.OrderGVR, shopOrder, shopOrderInvalid)
		c.Create(t, testkube.ChallengeGVR, strings.ReplaceAll(shopChallenge, "%UID%", string(order.GetUID())), shopChallengeInvalid)
		c.WriteStatus(t, testkube.CertificateGVR, "cm", "shop", shopFailing)
		awaitExposition(t, latest, up+chains+renewalFailure(shopSeries("dns")))
		snap, _ := latest.Get()
		if r := snap.Renewals[0]; !strings.Contains(r.Message, "NXDOMAIN looking up TXT for _acme-challenge.shop.example.test") || !r.LastAttempt.Equal(time.Date(2026, 12, 2, 10, 5, 0, 0, time.UTC)) {
			t.Errorf("renewal: message %q, last attempt %v; want the Challenge's reason and the failure time", r.Message, r.LastAttempt)
		}

		// Between the failure and the retry Ready is still True: the failure stands.
		c.WriteStatus(t, testkube.CertificateGVR, "cm", "shop", shopBetweenRetries)
		awaitExposition(t, latest, up+chains+renewalFailure(shopSeries("unknown")))

		// Renewed: cert-manager clears lastFailureTime and rewrites the Secret.
		c.WriteStatus(t, testkube.CertificateGVR, "cm", "shop", shopRenewed)
		awaitExposition(t, latest, up+chains+renewalFailure(shopSeries("none")))
	})

	t.Run("cert-manager malformed status", func(t *testing.T) {
		c.EnsureNamespace(t, "cmbad")
		c.Create(t, testkube.CertificateGVR, certificateJSON("cmbad", "ok"), shopReady)
		// The CRD's date-time lets RFC 3339's lowercase t and z through, which cert-manager
		// (metav1.Time) never writes: some other writer made this status.
		c.Create(t, testkube.CertificateGVR, certificateJSON("cmbad", "broken"), `{"conditions":[`+readyCondition+`],"notAfter":"2027-01-01t00:00:00z"}`)
		latest := run(t, c.Config(), defaultPageSize, "namespaces: {include: [cmbad]}, cert_manager: {}", nil)
		awaitExposition(t, latest, `# HELP cert_expiry_exporter_kubernetes_certificate_error 1 per cert-manager Certificate whose status cannot be read, with the reason.
# TYPE cert_expiry_exporter_kubernetes_certificate_error gauge
cert_expiry_exporter_kubernetes_certificate_error{certificate="broken",namespace="cmbad",reason="status"} 1
`+status("cert-manager/cmbad 1 "+nowSeconds, "cmbad 1 "+nowSeconds)+
			renewalFailure(`cert_renewal_failure{client="cert-manager",domain="ok.example.test",lineage="cmbad/ok",reason="none"} 0`+"\n"))
		snap, _ := latest.Get()
		if len(snap.Problems) != 1 || snap.Problems[0].Where != "Certificate cmbad/broken" || !strings.HasPrefix(snap.Problems[0].Message, "status.notAfter: ") {
			t.Errorf("problems %+v, want one naming Certificate cmbad/broken and its field status.notAfter", snap.Problems)
		}
	})

	// Rights on Secrets only: cert-manager's watches fail on their own, the Secrets are read.
	t.Run("cert-manager forbidden", func(t *testing.T) {
		c.EnsureNamespace(t, "cmdenied")
		create(t, admin, tlsSecret(corev1.SecretTypeTLS, "cmdenied", "web", 3002, jan, pki))
		c.Create(t, testkube.CertificateGVR, certificateJSON("cmdenied", "web"), shopReady)
		sa := c.ServiceAccountConfig(t, "cmdenied", "exporter", testkube.Grant{Namespace: "cmdenied",
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"list", "watch"}}}})
		latest := run(t, sa, defaultPageSize, "namespaces: {include: [cmdenied]}, cert_manager: {}", nil)
		awaitExposition(t, latest, `# HELP cert_expiry_exporter_kubernetes_watch_error 1 per namespace (* for the cluster-wide watch) and resource (secrets, configmaps, namespaces, ingresses, gateways, certificates, orders, challenges) that cannot be listed or watched, with the reason.
# TYPE cert_expiry_exporter_kubernetes_watch_error gauge
cert_expiry_exporter_kubernetes_watch_error{namespace="cmdenied",reason="forbidden",resource="certificates"} 1
cert_expiry_exporter_kubernetes_watch_error{namespace="cmdenied",reason="forbidden",resource="challenges"} 1
cert_expiry_exporter_kubernetes_watch_error{namespace="cmdenied",reason="forbidden",resource="orders"} 1
`+status("cert-manager/cmdenied 0 -", "cmdenied 1 "+nowSeconds)+notAfter(chainSeries(pki, "cmdenied", "web", "bba", "1.7987616e+09")))
	})
}

// Of cert-manager's objects only what the classification reads is kept: Orders pile up, one
// per issuance, each with its CSR, chain and authorizations.
func TestCertManagerObjectsTrimmed(t *testing.T) {
	const (
		managed = `"managedFields":[{"manager":"cert-manager-orders","operation":"Update","time":"2026-12-02T10:05:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:status":{}}}],
		"uid":"u1","resourceVersion":"7","creationTimestamp":"2026-12-02T10:00:00Z","generation":1,"labels":{"app":"shop"},"finalizers":["acme.cert-manager.io/finalizer"]`
		lastApplied = `"kubectl.kubernetes.io/last-applied-configuration":"{\"spec\":{}}"`
	)
	order := strings.Replace(shopOrder, `"annotations":{`, managed+`,"annotations":{`+lastApplied+`,`, 1)
	order = strings.TrimSuffix(order, "}") + `,"status":{"state":"invalid","reason":"Failed to finalize Order: 403 urn:ietf:params:acme:error:unauthorized","url":"https://acme.example/order/1",
	"certificate":"LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==","authorizations":[{"url":"https://acme.example/authz/1","identifier":"shop.example.test","initialState":"pending",
	"challenges":[{"type":"http-01","url":"https://acme.example/chall/1","token":"t1"},{"type":"dns-01","url":"https://acme.example/chall/2","token":"t2"}]}]}}`
	challenge := strings.Replace(strings.ReplaceAll(shopChallenge, "%UID%", "u1"), `"ownerReferences"`, managed+`,"ownerReferences"`, 1)
	challenge = strings.TrimSuffix(challenge, "}") + `,"status":` + shopChallengeInvalid + `}`
	crt := strings.Replace(certificateJSON("cm", "shop"), `"name":"shop"}`, `"name":"shop",`+managed+`,"annotations":{`+lastApplied+`}}`, 1)
	crt = strings.TrimSuffix(crt, "}") + `,"status":` + shopFailing + `}`
	const meta = `"creationTimestamp":"2026-12-02T10:00:00Z","resourceVersion":"7","uid":"u1"`
	res := certManagerResources(nil, "", true)
	for _, c := range []struct {
		res       resource
		obj, want string
	}{
		{res[1], order, `{"apiVersion":"acme.cert-manager.io/v1","kind":"Order","metadata":{"annotations":{"cert-manager.io/certificate-name":"shop"},` + meta + `,
		"name":"shop-2-3514128424","namespace":"cm"},"status":{"reason":"Failed to finalize Order: 403 urn:ietf:params:acme:error:unauthorized"}}`},
		{res[2], challenge, `{"apiVersion":"acme.cert-manager.io/v1","kind":"Challenge","metadata":{` + meta + `,"name":"shop-2-3514128424-2705829930","namespace":"cm",
		"ownerReferences":[{"apiVersion":"acme.cert-manager.io/v1","kind":"Order","name":"shop-2-3514128424","uid":"u1","controller":true,"blockOwnerDeletion":true}]},
		"status":{"state":"invalid","reason":` + mustJSON(t, testkube.Object(t, challenge).Object["status"].(map[string]any)["reason"]) + `}}`},
		// A Certificate keeps its spec and status, which Classify reads and checks.
		{res[0], crt, `{"apiVersion":"cert-manager.io/v1","kind":"Certificate","metadata":{` + meta + `,"name":"shop","namespace":"cm"},
		"spec":` + mustJSON(t, testkube.Object(t, crt).Object["spec"]) + `,"status":` + mustJSON(t, testkube.Object(t, crt).Object["status"]) + `}`},
	} {
		got := mustJSON(t, c.res.keep(watch.Event{Type: watch.Added, Object: testkube.Object(t, c.obj)}).(*unstructured.Unstructured).Object)
		if want := mustJSON(t, testkube.Object(t, c.want).Object); got != want {
			t.Errorf("%s kept as\n%s\nwant\n%s", c.res, got, want)
		}
	}
}

// mustJSON is v as JSON, maps with sorted keys.
func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
