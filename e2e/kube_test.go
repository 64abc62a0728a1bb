//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testkube"
)

// Scenario 20: a Kubernetes namespace, read by the exporter binary through a real
// kube-apiserver (etcd behind it) with exactly the rights of examples/kubernetes/rbac.yaml.
// cert-manager's renewal of Certificate web fails on a DNS-01 challenge the CA refused, written
// as cert-manager's controllers write it (Ready stays True; the Certificate says only that the
// Order is invalid, the Challenge says why); Secret api-tls, which nothing renews, has 2 days
// left; Secret bad-tls holds no certificate. No cert-manager controller runs: its objects'
// status is written through the status subresource, as it would write them.
func TestScenario20Kubernetes(t *testing.T) {
	t.Parallel()
	const sc, ns = "s20-kubernetes", "s20"
	s := getStack(t)
	dir := testDir(t, sc)
	now := time.Now().UTC()
	pki, _ := scenarioPKI(t, dir, sc, now)
	c := testkube.Start(t)
	c.InstallCertManagerCRDs(t)
	admin := c.Clientset(t)
	c.EnsureNamespace(t, ns)
	secret := func(name string, crt []byte, annotations map[string]string) {
		t.Helper()
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: annotations}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": crt, "tls.key": []byte("not read: the exporter never reads tls.key"), "ca.crt": pki.Root.PEM()}}
		if _, err := admin.CoreV1().Secrets(ns).Create(context.Background(), s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// cert-manager renews at two thirds of the lifetime: web, 25 days left of 90, is past it.
	web := leaf(pki, "s20-web.e2e.test", now, -65*day, 90*day)
	api := leaf(pki, "s20-api.e2e.test", now, -88*day, 90*day)
	secret("web-tls", testcerts.Bundle(web, pki.Intermediate), map[string]string{"cert-manager.io/certificate-name": "web"})
	secret("api-tls", testcerts.Bundle(api, pki.Intermediate), nil)
	secret("bad-tls", []byte("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n"), nil)

	rfc := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	issuer := `"issuerRef":{"name":"letsencrypt","kind":"ClusterIssuer","group":"cert-manager.io"}`
	ready := `{"type":"Ready","status":"True","reason":"Ready","message":"Certificate is up to date and has not expired","observedGeneration":1,"lastTransitionTime":"` + rfc(web.Cert.NotBefore) + `"}`
	failed := now.Add(-10 * time.Minute)
	c.Create(t, testkube.CertificateGVR, `{"apiVersion":"cert-manager.io/v1","kind":"Certificate","metadata":{"namespace":"`+ns+`","name":"web"},
		"spec":{"secretName":"web-tls","dnsNames":["s20-web.e2e.test"],`+issuer+`}}`,
		`{"conditions":[`+ready+`,{"type":"Issuing","status":"False","reason":"Failed","message":"The certificate request has failed to complete and will be retried: Failed to wait for order resource \"web-2-1876543210\" to become ready: order is in \"invalid\" state: ","observedGeneration":1,"lastTransitionTime":"`+rfc(failed)+`"}],
		"notBefore":"`+rfc(web.Cert.NotBefore)+`","notAfter":"`+rfc(web.Cert.NotAfter)+`","renewalTime":"`+rfc(web.Cert.NotAfter.Add(-30*day))+`","revision":1,
		"lastFailureTime":"`+rfc(failed)+`","failedIssuanceAttempts":1}`)
	order := c.Create(t, testkube.OrderGVR, `{"apiVersion":"acme.cert-manager.io/v1","kind":"Order","metadata":{"namespace":"`+ns+`","name":"web-2-1876543210",
		"annotations":{"cert-manager.io/certificate-name":"web","cert-manager.io/certificate-revision":"2"}},
		"spec":{"request":"LS0tLS1CRUdJTiBDRVJUSUZJQ0FURSBSRVFVRVNULS0tLS0K",`+issuer+`,"dnsNames":["s20-web.e2e.test"]}}`,
		`{"state":"invalid","url":"https://acme.example/order/1","finalizeURL":"https://acme.example/finalize/1","failureTime":"`+rfc(failed)+`"}`)
	c.Create(t, testkube.ChallengeGVR, `{"apiVersion":"acme.cert-manager.io/v1","kind":"Challenge","metadata":{"namespace":"`+ns+`","name":"web-2-1876543210-1",
		"ownerReferences":[{"apiVersion":"acme.cert-manager.io/v1","kind":"Order","name":"web-2-1876543210","uid":"`+string(order.GetUID())+`","controller":true,"blockOwnerDeletion":true}]},
		"spec":{"type":"DNS-01","dnsName":"s20-web.e2e.test","authorizationURL":"https://acme.example/authz/1","url":"https://acme.example/chall/1","token":"tok","key":"key",`+issuer+`,
		"solver":{"dns01":{"webhook":{"groupName":"acme.example","solverName":"x"}}}}}`,
		`{"processing":false,"presented":false,"state":"invalid",
		"reason":"Error accepting authorization: acme: authorization error for s20-web.e2e.test: 400 urn:ietf:params:acme:error:dns: DNS problem: NXDOMAIN looking up TXT for _acme-challenge.s20-web.e2e.test - check that a DNS record exists for this domain"}`)

	sa := c.ServiceAccountConfig(t, "monitoring", "cert-expiry-exporter", testkube.Grant{Rules: testkube.ClusterRoleRules(t, "../examples/kubernetes/rbac.yaml")})
	fault := time.Now()
	e := startExporter(t, dir, fmt.Sprintf("kubernetes:\n  kubeconfig: %q\n  namespaces: {include: [%s]}\n  cert_manager: {}\n", testkube.Kubeconfig(t, sa), ns), exporterOpts{})
	job := filepath.Base(dir)
	s.register(t, job, e)

	renewal := want{"CertificateRenewalFailed", map[string]string{"severity": "warning", "client": "cert-manager", "lineage": ns + "/web", "reason": "dns", "domain": "s20-web.e2e.test"}}
	expiry := want{"CertificateExpiryCritical", map[string]string{"severity": "critical", "source": "kubernetes", "namespace": ns, "secret": "api-tls", "key": "tls.crt"}}
	broken := want{"CertExpiryExporterKubernetesObjectError", map[string]string{"severity": "warning", "namespace": ns, "secret": "bad-tls", "key": "tls.crt"}}
	wants := []want{renewal, expiry, broken}
	// Both leaves are past their renewal point, and 2 days is also < 7 days: the overdue and
	// expiring-soon warnings fire too, and the shipped inhibit rules mute them, web-tls's behind
	// its Certificate's CertificateRenewalFailed (same lineage), api-tls's behind
	// CertificateExpiryCritical (same serial). One fault, one notification: none is allowed.
	seen := s.expectAlerts(t, job, wants)
	record(sc, renewal, fault, seen[renewal.String()], web.Cert.NotAfter)
	record(sc, expiry, fault, seen[expiry.String()], api.Cert.NotAfter)
	record(sc, broken, fault, seen[broken.String()], time.Time{})
}

// Scenario 21: cert-manager renewed the Secrets of an Ingress and a Gateway, but their
// controller, a real nginx on loopback (each object's status address is 127.0.0.1, as a
// controller publishing its Service writes it), was not reloaded and serves the certificates
// before. The exporter discovers both hosts through the API server (the rights of
// examples/kubernetes/rbac.yaml) and probes them as it would from inside the cluster; the fake
// here is only the pod network (the addresses are loopback). Reloading nginx deploys the
// Secrets' certificates.
func TestScenario21KubernetesNotDeployed(t *testing.T) {
	t.Parallel()
	const sc, ns = "s21-kube-not-deployed", "s21"
	const webHost, gwHost = "s21-web.e2e.test", "s21-gw.e2e.test"
	s := getStack(t)
	dir := testDir(t, sc)
	now := time.Now().UTC()
	pki, ca := scenarioPKI(t, dir, sc, now)
	c := testkube.Start(t)
	c.InstallGatewayCRD(t)
	admin := c.Clientset(t)
	c.EnsureNamespace(t, ns)

	// What nginx serves: the files its sites name, rewritten at the "reload".
	type site struct {
		host, secret, crt, key string
		port                   int
		old, renewed           *testcerts.Cert
	}
	sites := []*site{{host: webHost, secret: "web-tls"}, {host: gwHost, secret: "gw-tls"}}
	var ngxSites []nginxSite
	for _, st := range sites {
		st.old, st.renewed = leaf(pki, st.host, now, -60*day, 90*day), leaf(pki, st.host, now, -time.Hour, 90*day)
		st.crt, st.key = filepath.Join(dir, st.host+".crt"), filepath.Join(dir, st.host+".key")
		writeFile(t, st.crt, testcerts.Bundle(st.old, pki.Intermediate))
		writeFile(t, st.key, st.old.KeyPEM())
		st.port = freePort(t)
		ngxSites = append(ngxSites, nginxSite{listen: loopbackAddr("127.0.0.1", st.port), cert: st.crt, key: st.key})
	}
	ngx := startNginx(t, testDir(t, sc+"-nginx"), ngxSites...)
	web, gw := sites[0], sites[1]

	secret := func(st *site, crt *testcerts.Cert) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: st.secret}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": testcerts.Bundle(crt, pki.Intermediate), "tls.key": crt.KeyPEM(), "ca.crt": pki.Root.PEM()}}
	}
	ctx := context.Background()
	for _, st := range sites {
		if _, err := admin.CoreV1().Secrets(ns).Create(ctx, secret(st, st.old), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "web"}, Spec: networkingv1.IngressSpec{
		TLS:            []networkingv1.IngressTLS{{Hosts: []string{webHost}, SecretName: web.secret}},
		DefaultBackend: &networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web", Port: networkingv1.ServiceBackendPort{Number: 80}}},
	}}
	ing, err := admin.NetworkingV1().Ingresses(ns).Create(ctx, ing, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ing.Status.LoadBalancer.Ingress = []networkingv1.IngressLoadBalancerIngress{{IP: "127.0.0.1"}}
	if _, err := admin.NetworkingV1().Ingresses(ns).UpdateStatus(ctx, ing, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.Create(t, testkube.GatewayGVR, fmt.Sprintf(`{"apiVersion":"gateway.networking.k8s.io/v1","kind":"Gateway","metadata":{"namespace":%q,"name":"gw"},
		"spec":{"gatewayClassName":"nginx","listeners":[{"name":"https","protocol":"HTTPS","hostname":%q,"port":%d,
		"tls":{"mode":"Terminate","certificateRefs":[{"group":"","kind":"Secret","name":%q}]}}]}}`, ns, gwHost, gw.port, gw.secret),
		`{"addresses":[{"type":"IPAddress","value":"127.0.0.1"}]}`)

	sa := c.ServiceAccountConfig(t, "monitoring", "cert-expiry-exporter", testkube.Grant{Rules: testkube.ClusterRoleRules(t, "../examples/kubernetes/rbac.yaml")})
	e := startExporter(t, dir, fmt.Sprintf(`
modules:
  tls:
    tls_config: {ca_file: %q}
kubernetes:
  kubeconfig: %q
  namespaces: {include: [%s]}
  ingresses: {port: %d, interval: 1s}
  gateways: {interval: 1s}
drift:
  grace_period: 1s
`, ca, testkube.Kubeconfig(t, sa), ns, web.port), exporterOpts{})
	job := filepath.Base(dir)
	s.register(t, job, e)
	// Both hosts probed, verified, and serving what their Secrets hold.
	s.waitSeries(t, fmt.Sprintf(`cert_served_outdated{scenario=%q} == 0`, job), 2)
	s.waitSeries(t, fmt.Sprintf(`cert_chain_verified{scenario=%q, source="probe", reason="ok"} == 1`, job), 2)

	// cert-manager renews both Secrets; nobody reloads nginx.
	fault := time.Now()
	for _, st := range sites {
		if _, err := admin.CoreV1().Secrets(ns).Update(ctx, secret(st, st.renewed), metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var wants []want
	for _, st := range sites {
		wants = append(wants, want{"CertificateNotDeployed", map[string]string{"severity": "warning", "domain": st.host, "ip": "127.0.0.1",
			"target": loopbackAddr(st.host, st.port), "namespace": ns, "secret": st.secret, "key": "tls.crt"}})
	}
	seen := s.expectAlerts(t, job, wants)
	for i, w := range wants {
		record(sc, w, fault, seen[w.String()], sites[i].old.Cert.NotAfter)
	}

	// The reload: nginx serves the Secrets' certificates, both back to 0.
	for _, st := range sites {
		writeAtomic(t, st.crt, testcerts.Bundle(st.renewed, pki.Intermediate))
		writeAtomic(t, st.key, st.renewed.KeyPEM())
	}
	if err := ngx.signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	s.waitSeries(t, fmt.Sprintf(`cert_served_outdated{scenario=%q} == 0`, job), 2)
}
