package testkube

import (
	"reflect"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

const tlsOnly = "type=" + string(corev1.SecretTypeTLS)

func TestControlPlane(t *testing.T) {
	c := Start(t)
	ctx := t.Context()
	admin := c.Clientset(t)
	c.EnsureNamespace(t, "certs")
	c.EnsureNamespace(t, "other")
	if v, err := admin.Discovery().ServerVersion(); err != nil {
		t.Fatal(err)
	} else {
		t.Logf("kube-apiserver %s", v.GitVersion)
	}

	leaf := testcerts.New(testcerts.Options{CN: "web.example.test", DNSNames: []string{"web.example.test"}})
	createSecret(t, admin, "certs", "web-tls", corev1.SecretTypeTLS, map[string][]byte{
		corev1.TLSCertKey: leaf.PEM(), corev1.TLSPrivateKeyKey: leaf.KeyPEM()})
	createSecret(t, admin, "certs", "plain", corev1.SecretTypeOpaque, map[string][]byte{"tls.crt": leaf.PEM()})
	createSecret(t, admin, "other", "other-tls", corev1.SecretTypeTLS, map[string][]byte{
		corev1.TLSCertKey: leaf.PEM(), corev1.TLSPrivateKeyKey: leaf.KeyPEM()})

	t.Run("field selector", func(t *testing.T) {
		list, err := admin.CoreV1().Secrets("certs").List(ctx, metav1.ListOptions{FieldSelector: tlsOnly})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := secretNames(list), []string{"certs/web-tls"}; !slices.Equal(got, want) {
			t.Errorf("TLS secrets in certs = %v, want %v", got, want)
		}
		all, err := admin.CoreV1().Secrets("").List(ctx, metav1.ListOptions{FieldSelector: tlsOnly})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := secretNames(all), []string{"certs/web-tls", "other/other-tls"}; !slices.Equal(got, want) {
			t.Errorf("TLS secrets everywhere = %v, want %v", got, want)
		}

		// A watch from the list's version gets only what the selector matches: the Opaque
		// Secret created first never arrives, so the first event is the TLS one.
		w, err := admin.CoreV1().Secrets("certs").Watch(ctx, metav1.ListOptions{
			FieldSelector: tlsOnly, ResourceVersion: list.ResourceVersion})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		createSecret(t, admin, "certs", "plain-2", corev1.SecretTypeOpaque, map[string][]byte{"a": []byte("b")})
		createSecret(t, admin, "certs", "api-tls", corev1.SecretTypeTLS, map[string][]byte{
			corev1.TLSCertKey: leaf.PEM(), corev1.TLSPrivateKeyKey: leaf.KeyPEM()})
		select {
		case ev := <-w.ResultChan():
			s, ok := ev.Object.(*corev1.Secret)
			if ev.Type != watch.Added || !ok || s.Name != "api-tls" {
				t.Errorf("first watch event = %s %#v, want ADDED api-tls", ev.Type, ev.Object)
			}
		case <-time.After(time.Minute):
			t.Fatal("no watch event within a minute")
		}
	})

	t.Run("service account rights", func(t *testing.T) {
		cfg := c.ServiceAccountConfig(t, "exporter", "reader", Grant{
			Namespace: "certs",
			Rules:     []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"list", "watch"}}},
		})
		sa := kubernetes.NewForConfigOrDie(cfg)
		list, err := sa.CoreV1().Secrets("certs").List(ctx, metav1.ListOptions{FieldSelector: tlsOnly})
		if err != nil {
			t.Fatalf("list in the granted namespace: %v", err)
		}
		if got, want := secretNames(list), []string{"certs/api-tls", "certs/web-tls"}; !slices.Equal(got, want) {
			t.Errorf("TLS secrets seen by the reader = %v, want %v", got, want)
		}
		for _, ns := range []string{"other", ""} {
			_, err := sa.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{FieldSelector: tlsOnly})
			if !apierrors.IsForbidden(err) {
				t.Errorf("list in %q: err = %v, want Forbidden", ns, err)
			}
		}
		if _, err := sa.CoreV1().Secrets("certs").Get(ctx, "web-tls", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
			t.Errorf("get (not granted): err = %v, want Forbidden", err)
		}

		// The same identity through a kubeconfig file, as a process would load it.
		fromFile, err := clientcmd.BuildConfigFromFlags("", Kubeconfig(t, cfg))
		if err != nil {
			t.Fatal(err)
		}
		list, err = kubernetes.NewForConfigOrDie(fromFile).CoreV1().Secrets("certs").List(ctx, metav1.ListOptions{FieldSelector: tlsOnly})
		if err != nil || len(list.Items) != 2 {
			t.Errorf("list through the kubeconfig: %d secrets, err %v; want 2", len(list.Items), err)
		}
	})

	t.Run("certificate status subresource", func(t *testing.T) {
		c.InstallCertManagerCRDs(t)
		certs := dynamic.NewForConfigOrDie(c.Config()).Resource(CertificateGVR).Namespace("certs")
		crt := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "cert-manager.io/v1",
			"kind":       "Certificate",
			"metadata":   map[string]any{"name": "web"},
			"spec": map[string]any{
				"secretName": "web-tls",
				"dnsNames":   []any{"web.example.test"},
				"issuerRef":  map[string]any{"name": "letsencrypt", "kind": "ClusterIssuer", "group": "cert-manager.io"},
				"privateKey": map[string]any{"rotationPolicy": "Always"},
			},
			"status": map[string]any{"revision": int64(9)},
		}}
		created, err := certs.Create(ctx, crt, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, found := created.Object["status"]; found {
			t.Errorf("status kept on create: %v", created.Object["status"])
		}
		if got, _, _ := unstructured.NestedString(created.Object, "spec", "privateKey", "rotationPolicy"); got != "Always" {
			t.Errorf("untyped spec field rotationPolicy = %q, want it kept", got)
		}

		// What cert-manager writes after a failed renewal: still Ready, Issuing=False.
		status := map[string]any{
			"conditions": []any{
				map[string]any{"type": "Ready", "status": "True", "reason": "Ready",
					"message": "Certificate is up to date and has not expired", "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": int64(1)},
				map[string]any{"type": "Issuing", "status": "False", "reason": "Failed",
					"message": "The certificate request has failed to complete and will be retried: boom", "lastTransitionTime": "2026-03-01T00:00:00Z", "observedGeneration": int64(1)},
			},
			"notBefore":              "2026-01-01T00:00:00Z",
			"notAfter":               "2026-04-01T00:00:00Z",
			"renewalTime":            "2026-03-02T00:00:00Z",
			"lastFailureTime":        "2026-03-01T00:00:00Z",
			"failedIssuanceAttempts": int64(2),
			"revision":               int64(1),
			"acme":                   map[string]any{"ari": map[string]any{"lastError": "kept untyped"}},
		}
		created.Object["status"] = status
		if _, err := certs.UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		got, err := certs.Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Object["status"], status) {
			t.Errorf("status = %#v\nwant %#v", got.Object["status"], status)
		}

		// The main resource ignores status; the typed fields are validated.
		changed := got.DeepCopy()
		_ = unstructured.SetNestedField(changed.Object, int64(7), "status", "revision")
		_ = unstructured.SetNestedField(changed.Object, "web-tls-2", "spec", "secretName")
		updated, err := certs.Update(ctx, changed, metav1.UpdateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rev, _, _ := unstructured.NestedInt64(updated.Object, "status", "revision"); rev != 1 {
			t.Errorf("status.revision after a main-resource update = %d, want 1 (unchanged)", rev)
		}
		bad := updated.DeepCopy()
		_ = unstructured.SetNestedField(bad.Object, "soon", "status", "notAfter")
		if _, err := certs.UpdateStatus(ctx, bad, metav1.UpdateOptions{}); !apierrors.IsInvalid(err) {
			t.Errorf("notAfter=soon: err = %v, want Invalid", err)
		}
	})
}

func createSecret(t *testing.T, cs kubernetes.Interface, ns, name string, typ corev1.SecretType, data map[string][]byte) {
	t.Helper()
	_, err := cs.CoreV1().Secrets(ns).Create(t.Context(), &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name}, Type: typ, Data: data}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("secret %s/%s: %v", ns, name, err)
	}
}

func secretNames(l *corev1.SecretList) []string {
	var names []string
	for _, s := range l.Items {
		names = append(names, s.Namespace+"/"+s.Name)
	}
	slices.Sort(names)
	return names
}

// Start must not leave the servers running: after the subtest's cleanup the port refuses.
func TestStopOnCleanup(t *testing.T) {
	var cfg *rest.Config
	t.Run("cluster", func(t *testing.T) { cfg = Start(t).Config() })
	if t.Failed() || cfg == nil {
		return
	}
	_, err := kubernetes.NewForConfigOrDie(cfg).Discovery().ServerVersion()
	if err == nil {
		t.Fatal("kube-apiserver still answers after cleanup")
	}
}
