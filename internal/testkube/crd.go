package testkube

import (
	"bytes"
	"context"
	_ "embed"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
)

// cert-manager's CRDs, trimmed: the fields the exporter reads are typed, the rest is kept as
// sent.
var (
	//go:embed certificates.cert-manager.io.yaml
	certificateCRD []byte
	//go:embed orders.acme.cert-manager.io.yaml
	orderCRD []byte
	//go:embed challenges.acme.cert-manager.io.yaml
	challengeCRD []byte
	//go:embed gateways.gateway.networking.k8s.io.yaml
	gatewayCRD []byte
)

// cert-manager's resources: Certificates, and the ACME Orders and Challenges.
var (
	CertificateGVR = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "certificates"}
	OrderGVR       = schema.GroupVersionResource{Group: "acme.cert-manager.io", Version: "v1", Resource: "orders"}
	ChallengeGVR   = schema.GroupVersionResource{Group: "acme.cert-manager.io", Version: "v1", Resource: "challenges"}
)

// GatewayGVR is the Gateway API's Gateways.
var GatewayGVR = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "gateways"}

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// crdTimeout bounds the wait for a new CRD to be established and served.
const crdTimeout = time.Minute

// InstallCertManagerCRDs installs cert-manager's Certificate, Order and Challenge CRDs and
// waits until the three resources are served.
func (c *Cluster) InstallCertManagerCRDs(t testing.TB) {
	t.Helper()
	dyn := c.dynamic(t)
	ctx, cancel := context.WithTimeout(context.Background(), crdTimeout)
	defer cancel()
	for _, m := range []struct {
		manifest []byte
		gvr      schema.GroupVersionResource
	}{{certificateCRD, CertificateGVR}, {orderCRD, OrderGVR}, {challengeCRD, ChallengeGVR}} {
		installCRD(ctx, t, dyn, m.manifest, m.gvr)
	}
}

// InstallGatewayCRD installs the Gateway API's Gateway CRD and waits until Gateways are served.
func (c *Cluster) InstallGatewayCRD(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), crdTimeout)
	defer cancel()
	installCRD(ctx, t, c.dynamic(t), gatewayCRD, GatewayGVR)
}

// installCRD creates the CRD of manifest and waits until gvr is served.
func installCRD(ctx context.Context, t testing.TB, dyn dynamic.Interface, manifest []byte, gvr schema.GroupVersionResource) {
	t.Helper()
	var crd unstructured.Unstructured
	if err := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifest), 4096).Decode(&crd.Object); err != nil {
		t.Fatalf("testkube: CRD manifest: %v", err)
	}
	if _, err := dyn.Resource(crdGVR).Create(ctx, &crd, metav1.CreateOptions{}); err != nil {
		t.Fatalf("testkube: create CRD %s: %v", crd.GetName(), err)
	}
	// Established: the API server accepted the names; then the resource must also be routed,
	// which follows a moment later.
	err := wait.PollUntilContextCancel(ctx, 20*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		got, err := dyn.Resource(crdGVR).Get(ctx, crd.GetName(), metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		for _, cond := range conds {
			m, _ := cond.(map[string]any)
			if m["type"] == "Established" && m["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	})
	if err == nil {
		err = wait.PollUntilContextCancel(ctx, 20*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			_, err := dyn.Resource(gvr).List(ctx, metav1.ListOptions{Limit: 1})
			if apierrors.IsNotFound(err) {
				return false, nil
			}
			return err == nil, err
		})
	}
	if err != nil {
		t.Fatalf("testkube: CRD %s not served: %v", crd.GetName(), err)
	}
}
