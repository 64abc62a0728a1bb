package kube

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testexpo"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testkube"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testwait"
)

// now is the source's (fake) clock and the scrape time; the certificates are made around it.
var now = time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)

// exposed are the families the goldens show: the certificates' validity, cert-manager's
// renewals and the source's health (cert_info and the chain series carry the Secret's write time, which is real).
var exposed = []string{
	"cert_not_after_timestamp_seconds",
	"cert_expiry_exporter_source_up",
	"cert_expiry_exporter_source_last_success_timestamp_seconds",
	"cert_expiry_exporter_kubernetes_watch_error",
	"cert_expiry_exporter_kubernetes_secret_error",
	"cert_expiry_exporter_kubernetes_configmap_error",
	"cert_expiry_exporter_kubernetes_certificate_error",
	"cert_renewal_failure",
}

// run starts the source with the kubernetes: section body (YAML flow mappings, e.g.
// `namespaces: {include: [a]}`) against the cluster as cred, LIST pages of pageSize, and
// returns its latest snapshot holder; the source stops when the test ends.
func run(t *testing.T, cred *rest.Config, pageSize int64, section string, log io.Writer) *testwait.Latest[*source.Snapshot] {
	t.Helper()
	return runClock(t, clockwork.NewFakeClockAt(now), cred, pageSize, section, log)
}

// runClock is run with the source's clock.
func runClock(t *testing.T, clock clockwork.Clock, cred *rest.Config, pageSize int64, section string, log io.Writer) *testwait.Latest[*source.Snapshot] {
	t.Helper()
	cfg, err := config.Parse(fmt.Appendf(nil, "kubernetes: {kubeconfig: %q, %s}\n", testkube.Kubeconfig(t, cred), section))
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	if log != nil {
		logger = slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}}))
	}
	src := Factory.New(cfg, source.Env{Logger: logger, Clock: clock}).(*Source)
	src.pageSize = pageSize
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
	awaitFamilies(t, latest, exposed, want)
}

// awaitFamilies waits until the latest snapshot renders the families as want.
func awaitFamilies(t *testing.T, latest *testwait.Latest[*source.Snapshot], families []string, want string) {
	t.Helper()
	var got string
	testwait.Until(t, func() error {
		snap, ok := latest.Get()
		if !ok {
			return errNotYet("no snapshot published")
		}
		if got = testexpo.Families(t, "kubernetes", snap, now, families...); got != want {
			return errNotYet("exposition:\n" + got + "\nwant:\n" + want)
		}
		return nil
	})
}

type errNotYet string

func (e errNotYet) Error() string { return string(e) }

// leafPEM is a leaf of pki named after secret, valid until notAfter, with a fixed serial (so
// that the series are), followed by the intermediate.
func leafPEM(pki *testcerts.PKI, secret string, serial int64, notAfter time.Time) (chain, key []byte) {
	leaf := pki.Leaf(testcerts.Options{CN: secret + ".example.test", DNSNames: []string{secret + ".example.test"},
		Serial: big.NewInt(serial), NotBefore: now.Add(-24 * time.Hour), NotAfter: notAfter})
	return testcerts.Bundle(leaf, pki.Intermediate), leaf.KeyPEM()
}

// tlsSecret is a Secret of type typ as cert-manager writes it: tls.crt (leafPEM), tls.key and
// the root as ca.crt.
func tlsSecret(typ corev1.SecretType, ns, name string, serial int64, notAfter time.Time, pki *testcerts.PKI) *corev1.Secret {
	chain, key := leafPEM(pki, name, serial, notAfter)
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Type:       typ,
		Data:       map[string][]byte{corev1.TLSCertKey: chain, corev1.TLSPrivateKeyKey: key, "ca.crt": pki.Root.PEM()},
	}
}

func create(t *testing.T, cs kubernetes.Interface, s *corev1.Secret) {
	t.Helper()
	if _, err := cs.CoreV1().Secrets(s.Namespace).Create(t.Context(), s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// notAfter is the cert_not_after_timestamp_seconds family of the given series (chainSeries),
// in the registry's order (by label values: here the lines' order).
func notAfter(series ...string) string {
	lines := strings.SplitAfter(strings.Join(series, ""), "\n")
	slices.Sort(lines)
	return "# HELP cert_not_after_timestamp_seconds Certificate NotAfter as a Unix timestamp.\n" +
		"# TYPE cert_not_after_timestamp_seconds gauge\n" + strings.Join(lines, "")
}

// chainSeries are the not-after series of the tls.crt of ns/secret made by leafPEM: the leaf
// and the intermediate (valid until 2031-12-02T10:00Z; its serial is random).
func chainSeries(pki *testcerts.PKI, ns, secret, serial, notAfter string) string {
	loc := `key="tls.crt",namespace="` + ns + `",secret="` + secret + `"`
	return `cert_not_after_timestamp_seconds{domain="Kube Intermediate CA",index="1",issuer="Kube Root CA",` + loc +
		`,serial="` + pki.Intermediate.Cert.SerialNumber.Text(16) + `",source="kubernetes"} 1.953972e+09` + "\n" +
		`cert_not_after_timestamp_seconds{domain="` + secret + `.example.test",index="0",issuer="Kube Intermediate CA",` + loc +
		`,serial="` + serial + `",source="kubernetes"} ` + notAfter + "\n"
}

// status is the source_up and last_success families, for "name up lastSuccess" triples
// (lastSuccess "-": never worked, no series).
func status(names ...string) string {
	last := "# HELP cert_expiry_exporter_source_last_success_timestamp_seconds When the source last worked.\n" +
		"# TYPE cert_expiry_exporter_source_last_success_timestamp_seconds gauge\n"
	up := "# HELP cert_expiry_exporter_source_up 1 when the source's last pass worked.\n" +
		"# TYPE cert_expiry_exporter_source_up gauge\n"
	for _, n := range names {
		f := strings.Fields(n)
		if f[2] != "-" {
			last += `cert_expiry_exporter_source_last_success_timestamp_seconds{name="` + f[0] + `",source="kubernetes"} ` + f[2] + "\n"
		}
		up += `cert_expiry_exporter_source_up{name="` + f[0] + `",source="kubernetes"} ` + f[1] + "\n"
	}
	return last + up
}

// nowSeconds is now as a sample value.
// shippedRBAC holds the ClusterRole the examples ship.
const shippedRBAC = "../../examples/kubernetes/rbac.yaml"

const nowSeconds = "1.796292e+09"

// Times the leaves end: 2027-01-01 and 2027-02-01 (1.7987616e+09 and 1.801440e+09).
var jan, feb = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 2, 1, 0, 0, 0, 0, time.UTC)

// TestSource runs the source against one real API server (its start is the cost: a few
// seconds), each subtest in namespaces (or a Secret type) of its own.
func TestSource(t *testing.T) {
	c := testkube.Start(t)
	c.InstallCertManagerCRDs(t)
	admin := c.Clientset(t)
	pki := testcerts.NewPKI("Kube", now)

	t.Run("create update delete", func(t *testing.T) {
		c.EnsureNamespace(t, "life")
		latest := run(t, c.Config(), defaultPageSize, "namespaces: {include: [life]}", nil)
		up := status("life 1 " + nowSeconds)
		awaitExposition(t, latest, up)

		create(t, admin, tlsSecret(corev1.SecretTypeTLS, "life", "web", 1001, jan, pki))
		// The leaf and the intermediate of tls.crt; ca.crt is only the root (not a default key).
		awaitExposition(t, latest, up+notAfter(chainSeries(pki, "life", "web", "3e9", "1.7987616e+09")))

		// An update is a new certificate (cert-manager renews in place).
		if _, err := admin.CoreV1().Secrets("life").Update(t.Context(),
			tlsSecret(corev1.SecretTypeTLS, "life", "web", 1002, feb, pki), metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		awaitExposition(t, latest, up+notAfter(chainSeries(pki, "life", "web", "3ea", "1.80144e+09")))

		if err := admin.CoreV1().Secrets("life").Delete(t.Context(), "web", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		awaitExposition(t, latest, up)
	})

	t.Run("opaque and garbage", func(t *testing.T) {
		c.EnsureNamespace(t, "kinds")
		chain, _ := leafPEM(pki, "opaque", 1003, jan)
		// Not of a listed type: the API server does not even send it.
		create(t, admin, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "kinds", Name: "opaque"},
			Type: corev1.SecretTypeOpaque, Data: map[string][]byte{corev1.TLSCertKey: chain}})
		create(t, admin, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "kinds", Name: "garbage"},
			Type: corev1.SecretTypeTLS, Data: map[string][]byte{corev1.TLSCertKey: []byte("not a certificate"), corev1.TLSPrivateKeyKey: []byte("x")}})
		create(t, admin, tlsSecret(corev1.SecretTypeTLS, "kinds", "good", 1004, jan, pki))
		latest := run(t, c.Config(), defaultPageSize, "namespaces: {include: [kinds]}", nil)
		awaitExposition(t, latest, `# HELP cert_expiry_exporter_kubernetes_secret_error 1 per Secret key that holds no usable certificate, with the reason.
# TYPE cert_expiry_exporter_kubernetes_secret_error gauge
cert_expiry_exporter_kubernetes_secret_error{key="tls.crt",namespace="kinds",reason="parse",secret="garbage"} 1
`+status("kinds 1 "+nowSeconds)+notAfter(chainSeries(pki, "kinds", "good", "3ec", "1.7987616e+09")))
	})

	// A Secret type of its own, so that the cluster-wide watch sees only this subtest's Secrets.
	const pagedType = "example.test/paged"
	t.Run("cluster-wide exclude and pages", func(t *testing.T) {
		for _, ns := range []string{"shown", "hidden"} {
			c.EnsureNamespace(t, ns)
		}
		var series []string
		// Five Secrets in pages of two: the list is three pages, each parsed on its own.
		for i := range int64(5) {
			name := fmt.Sprintf("s%d", i)
			create(t, admin, tlsSecret(pagedType, "shown", name, 2000+i, jan, pki))
			series = append(series, chainSeries(pki, "shown", name, big.NewInt(2000+i).Text(16), "1.7987616e+09"))
		}
		create(t, admin, tlsSecret(pagedType, "hidden", "h", 2100, jan, pki))
		// The premise: the API server pages this list (a list it answered whole would prove
		// nothing about the pages).
		page, err := admin.CoreV1().Secrets("shown").List(t.Context(), metav1.ListOptions{FieldSelector: "type=" + pagedType, Limit: 2})
		if err != nil || len(page.Items) != 2 || page.Continue == "" {
			t.Fatalf("first page: %d Secrets, continue %q, %v; want 2 and a continue token", len(page.Items), page.Continue, err)
		}
		latest := run(t, c.Config(), 2, "namespaces: {exclude: [hidden]}, secrets: {types: ["+pagedType+"]}", nil)
		awaitExposition(t, latest, status("* 1 "+nowSeconds)+notAfter(series...))
	})

	// The rights of examples/kubernetes/rbac.yaml are enough for a cluster-wide watch.
	t.Run("shipped RBAC", func(t *testing.T) {
		const typ = "example.test/rbac"
		c.EnsureNamespace(t, "shipped")
		create(t, admin, tlsSecret(typ, "shipped", "web", 1007, jan, pki))
		sa := c.ServiceAccountConfig(t, "shipped", "exporter", testkube.Grant{Rules: testkube.ClusterRoleRules(t, shippedRBAC)})
		// cert-manager's resources too, cluster-wide: the Certificates of the other subtests
		// are there (and are not what this checks), so only the health is compared.
		latest := run(t, sa, defaultPageSize, "secrets: {types: ["+typ+"]}, cert_manager: {}", nil)
		testwait.Until(t, func() error {
			snap, ok := latest.Get()
			if !ok {
				return errNotYet("no snapshot published")
			}
			want := status("* 1 "+nowSeconds, "cert-manager/* 1 "+nowSeconds) + notAfter(chainSeries(pki, "shipped", "web", "3ef", "1.7987616e+09"))
			if got := testexpo.Families(t, "kubernetes", snap, now, "cert_not_after_timestamp_seconds", "cert_expiry_exporter_source_up",
				"cert_expiry_exporter_source_last_success_timestamp_seconds", "cert_expiry_exporter_kubernetes_watch_error"); got != want {
				return errNotYet("exposition:\n" + got + "\nwant:\n" + want)
			}
			return nil
		})
	})

	t.Run("forbidden namespace", func(t *testing.T) {
		for _, ns := range []string{"allowed", "denied"} {
			c.EnsureNamespace(t, ns)
		}
		create(t, admin, tlsSecret(corev1.SecretTypeTLS, "allowed", "ok", 1005, jan, pki))
		create(t, admin, tlsSecret(corev1.SecretTypeTLS, "denied", "no", 1006, jan, pki))
		sa := c.ServiceAccountConfig(t, "allowed", "exporter", testkube.Grant{Namespace: "allowed",
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"list", "watch"}}}})
		var log testwait.Buffer
		latest := run(t, sa, defaultPageSize, "namespaces: {include: [allowed, denied]}", &log)
		awaitExposition(t, latest, `# HELP cert_expiry_exporter_kubernetes_watch_error 1 per namespace (* for the cluster-wide watch) and resource (secrets, configmaps, namespaces, ingresses, gateways, certificates, orders, challenges) that cannot be listed or watched, with the reason.
# TYPE cert_expiry_exporter_kubernetes_watch_error gauge
cert_expiry_exporter_kubernetes_watch_error{namespace="denied",reason="forbidden",resource="secrets"} 1
`+status("allowed 1 "+nowSeconds, "denied 0 -")+notAfter(chainSeries(pki, "allowed", "ok", "3ed", "1.7987616e+09")))
		// The reflector retries every few seconds; the log says it once.
		snap := latest.Await(t, "a second forbidden list", func(snap *source.Snapshot) bool {
			return slices.ContainsFunc(snap.Status, func(st source.Status) bool { return st.Name == "denied" && st.Errors[reasonForbidden] >= 2 })
		})
		const msg = `secrets is forbidden: User "system:serviceaccount:allowed:exporter" cannot list resource "secrets" in API group "" in the namespace "denied"`
		want := `level=WARN msg="kubernetes watch failing" namespace=denied resource="kubernetes.io/tls Secrets" reason=forbidden err="` + strings.ReplaceAll(msg, `"`, `\"`) + `"` + "\n"
		if got := log.String(); got != want {
			t.Errorf("log:\n%s\nwant:\n%s", got, want)
		}
		// Why it is down, for the landing page and check; the allowed namespace is up.
		for _, st := range snap.Status {
			if want := map[string]string{"denied": msg}[st.Name]; st.Error != want {
				t.Errorf("status %s: error %q, want %q", st.Name, st.Error, want)
			}
		}
	})

	// namespaces.label_selector with the least rights it needs: namespaces cluster-wide, Secrets
	// only in the namespaces that match. A namespace relabelled in brings its Secrets, one
	// relabelled out takes them away.
	t.Run("namespace label selector", func(t *testing.T) {
		setTeam := func(ns, team string) {
			t.Helper()
			n, err := admin.CoreV1().Namespaces().Get(t.Context(), ns, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			n.Labels = map[string]string{"team": team}
			if _, err := admin.CoreV1().Namespaces().Update(t.Context(), n, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		secretRights := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"list", "watch"}}}
		grants := []testkube.Grant{{Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"list", "watch"}}}}}
		for i, ns := range []string{"sel-a", "sel-b", "sel-x"} {
			c.EnsureNamespace(t, ns)
			setTeam(ns, map[string]string{"sel-b": "db"}[ns]+map[bool]string{true: "web"}[ns != "sel-b"])
			create(t, admin, tlsSecret(corev1.SecretTypeTLS, ns, "web", 1100+int64(i), jan, pki))
			grants = append(grants, testkube.Grant{Namespace: ns, Rules: secretRights})
		}
		sa := c.ServiceAccountConfig(t, "sel-a", "exporter", grants...)
		const section = "namespaces: {label_selector: team=web, exclude: [sel-x]}"
		latest := run(t, sa, defaultPageSize, section, nil)
		a := chainSeries(pki, "sel-a", "web", "44c", "1.7987616e+09")
		b := chainSeries(pki, "sel-b", "web", "44d", "1.7987616e+09")
		awaitExposition(t, latest, status("namespaces/team=web 1 "+nowSeconds, "sel-a 1 "+nowSeconds)+notAfter(a))

		setTeam("sel-b", "web")
		awaitExposition(t, latest, status("namespaces/team=web 1 "+nowSeconds, "sel-a 1 "+nowSeconds, "sel-b 1 "+nowSeconds)+notAfter(a, b))

		setTeam("sel-a", "ops")
		awaitExposition(t, latest, status("namespaces/team=web 1 "+nowSeconds, "sel-b 1 "+nowSeconds)+notAfter(b))

		// Without the right to list namespaces, nothing is read, and the health says why.
		noNS := c.ServiceAccountConfig(t, "sel-b", "exporter", testkube.Grant{Namespace: "sel-b", Rules: secretRights})
		awaitExposition(t, run(t, noNS, defaultPageSize, section, nil), `# HELP cert_expiry_exporter_kubernetes_watch_error 1 per namespace (* for the cluster-wide watch) and resource (secrets, configmaps, namespaces, ingresses, gateways, certificates, orders, challenges) that cannot be listed or watched, with the reason.
# TYPE cert_expiry_exporter_kubernetes_watch_error gauge
cert_expiry_exporter_kubernetes_watch_error{namespace="*",reason="forbidden",resource="namespaces"} 1
# HELP cert_expiry_exporter_source_up 1 when the source's last pass worked.
# TYPE cert_expiry_exporter_source_up gauge
cert_expiry_exporter_source_up{name="namespaces/team=web",source="kubernetes"} 0
`)
	})

	// A chain's verdict is made when its Secret arrives, whose data is not kept: once a
	// certificate in it becomes valid (or expires), the watch ends and the Secrets are listed
	// and verified again.
	t.Run("verdict after a validity bound", func(t *testing.T) {
		c.EnsureNamespace(t, "bound")
		leaf := pki.Leaf(testcerts.Options{CN: "soon.example.test", DNSNames: []string{"soon.example.test"}, NotBefore: now.Add(time.Hour), NotAfter: jan})
		create(t, admin, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "bound", Name: "soon"}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: testcerts.Bundle(leaf, pki.Intermediate), corev1.TLSPrivateKeyKey: leaf.KeyPEM(), "ca.crt": pki.Root.PEM()}})
		clock := clockwork.NewFakeClockAt(now)
		latest := runClock(t, clock, c.Config(), defaultPageSize, "namespaces: {include: [bound]}", nil)
		verdict := func(want string) {
			t.Helper()
			latest.Await(t, "verdict "+want, func(snap *source.Snapshot) bool {
				return len(snap.Chains) == 1 && snap.Chains[0].Verify.Reason == want
			})
		}
		verdict(certs.ReasonNotYetValid)
		clock.Advance(time.Hour + time.Second)
		verdict(certs.ReasonOK)
	})

	testConfigMaps(t, c, admin)
	testCertManager(t, c, admin, pki)
	testIngresses(t, c, admin, pki)
	testGateways(t, c, admin, pki)

	// Last: the API server is away in between. The certificates last listed stay, the
	// namespace is down with reason unavailable, and once the server is back a Secret written
	// meanwhile (here: right after the restart) arrives.
	t.Run("API server restart", func(t *testing.T) {
		c.EnsureNamespace(t, "restart")
		create(t, admin, tlsSecret(corev1.SecretTypeTLS, "restart", "before", 1008, jan, pki))
		latest := run(t, c.Config(), defaultPageSize, "namespaces: {include: [restart]}", nil)
		before := notAfter(chainSeries(pki, "restart", "before", "3f0", "1.7987616e+09"))
		awaitExposition(t, latest, status("restart 1 "+nowSeconds)+before)

		c.StopAPIServer(t)
		awaitExposition(t, latest, `# HELP cert_expiry_exporter_kubernetes_watch_error 1 per namespace (* for the cluster-wide watch) and resource (secrets, configmaps, namespaces, ingresses, gateways, certificates, orders, challenges) that cannot be listed or watched, with the reason.
# TYPE cert_expiry_exporter_kubernetes_watch_error gauge
cert_expiry_exporter_kubernetes_watch_error{namespace="restart",reason="unavailable",resource="secrets"} 1
`+status("restart 0 "+nowSeconds)+before)

		c.StartAPIServer(t)
		create(t, c.Clientset(t), tlsSecret(corev1.SecretTypeTLS, "restart", "after", 1009, jan, pki))
		awaitExposition(t, latest, status("restart 1 "+nowSeconds)+
			notAfter(chainSeries(pki, "restart", "before", "3f0", "1.7987616e+09"), chainSeries(pki, "restart", "after", "3f1", "1.7987616e+09")))
	})
}
