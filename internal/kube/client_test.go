package kube

import (
	"context"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testkube"
)

// TestRESTConfigKubeconfig: a kubeconfig file reaches the API server with its credentials.
func TestRESTConfigKubeconfig(t *testing.T) {
	c := testkube.Start(t)
	cfg, err := RESTConfig(testkube.Kubeconfig(t, c.Config()))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cfg.UserAgent, "cert_expiry_exporter/") {
		t.Errorf("user agent %q", cfg.UserAgent)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Get(context.Background(), "default", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	// One request budget for the source, however many clients it makes.
	api, err := newAPIClients(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RateLimiter == nil || api.core.GetRateLimiter() != cfg.RateLimiter || api.networking.GetRateLimiter() != cfg.RateLimiter {
		t.Error("the core and networking clients do not share the config's rate limiter")
	}
}

// TestRESTConfigErrors: outside a pod, an empty kubeconfig says what to set; a broken file
// names the field.
func TestRESTConfigErrors(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	if _, err := RESTConfig(""); err == nil || !strings.Contains(err.Error(), "set kubernetes.kubeconfig") {
		t.Errorf("in-cluster outside a pod: %v", err)
	}
	if _, err := RESTConfig(t.TempDir() + "/nope"); err == nil || !strings.HasPrefix(err.Error(), "kubernetes.kubeconfig: ") {
		t.Errorf("missing kubeconfig: %v", err)
	}
}
