package testkube

import (
	"encoding/json"
	"os"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
)

// Object decodes a manifest written as JSON, as the dynamic client sends it.
func Object(t testing.TB, manifest string) *unstructured.Unstructured {
	t.Helper()
	var u unstructured.Unstructured
	if err := u.UnmarshalJSON([]byte(manifest)); err != nil {
		t.Fatalf("%v: %s", err, manifest)
	}
	return &u
}

// Create creates the object of manifest (without its status, which the API server drops on
// create) and then writes status (JSON; empty for none) through the status subresource, as
// cert-manager's controllers do. It returns the object as stored.
func (c *Cluster) Create(t testing.TB, gvr schema.GroupVersionResource, manifest, status string) *unstructured.Unstructured {
	t.Helper()
	u := Object(t, manifest)
	created, err := c.dynamic(t).Resource(gvr).Namespace(u.GetNamespace()).Create(t.Context(), u, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if status != "" {
		c.WriteStatus(t, gvr, created.GetNamespace(), created.GetName(), status)
	}
	return created
}

// WriteStatus replaces the status (JSON) of namespace/name through the status subresource.
func (c *Cluster) WriteStatus(t testing.TB, gvr schema.GroupVersionResource, namespace, name, status string) {
	t.Helper()
	res := c.dynamic(t).Resource(gvr).Namespace(namespace)
	cur, err := res.Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal([]byte(status), &st); err != nil {
		t.Fatalf("%v: %s", err, status)
	}
	cur.Object["status"] = st
	if _, err := res.UpdateStatus(t.Context(), cur, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("status of %s %s/%s: %v", gvr.Resource, namespace, name, err)
	}
}

func (c *Cluster) dynamic(t testing.TB) dynamic.Interface {
	t.Helper()
	dyn, err := dynamic.NewForConfig(c.Config())
	if err != nil {
		t.Fatal(err)
	}
	return dyn
}

// ClusterRoleRules are the rules of the first ClusterRole in the manifests of path (the
// shipped examples/kubernetes/rbac.yaml), for a Grant.
func ClusterRoleRules(t testing.TB, path string) []rbacv1.PolicyRule {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewYAMLOrJSONDecoder(f, 4096)
	for {
		var role rbacv1.ClusterRole
		if err := dec.Decode(&role); err != nil {
			t.Fatalf("no ClusterRole in %s: %v", path, err)
		}
		if role.Kind == "ClusterRole" {
			return role.Rules
		}
	}
}
