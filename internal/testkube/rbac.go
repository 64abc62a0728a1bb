package testkube

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Grant gives rights: Rules in one Namespace (a Role and RoleBinding), or cluster-wide when
// Namespace is empty (a ClusterRole and ClusterRoleBinding).
type Grant struct {
	Namespace string
	Rules     []rbacv1.PolicyRule
}

// rbacTimeout bounds the wait for the authorizer to see new bindings (its cache follows
// etcd through a watch, normally within milliseconds).
const rbacTimeout = time.Minute

// ServiceAccountConfig creates the ServiceAccount namespace/name (and its namespace), binds
// it to grants and returns a client configuration with a token for it, once the API server
// authorizes every rule granted. Rules with resource names are checked for those names.
func (c *Cluster) ServiceAccountConfig(t testing.TB, namespace, name string, grants ...Grant) *rest.Config {
	t.Helper()
	ctx := context.Background()
	admin := c.Clientset(t)
	c.EnsureNamespace(t, namespace)
	if _, err := admin.CoreV1().ServiceAccounts(namespace).Create(ctx,
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("testkube: ServiceAccount %s/%s: %v", namespace, name, err)
	}
	subject := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: namespace, Name: name}}
	for i, g := range grants {
		roleName := "testkube:" + namespace + ":" + name + ":" + strconv.Itoa(i)
		var err error
		if g.Namespace == "" {
			_, err = admin.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
				ObjectMeta: metav1.ObjectMeta{Name: roleName}, Rules: g.Rules}, metav1.CreateOptions{})
			if err == nil {
				_, err = admin.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
					ObjectMeta: metav1.ObjectMeta{Name: roleName}, Subjects: subject,
					RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: roleName}}, metav1.CreateOptions{})
			}
		} else {
			c.EnsureNamespace(t, g.Namespace)
			_, err = admin.RbacV1().Roles(g.Namespace).Create(ctx, &rbacv1.Role{
				ObjectMeta: metav1.ObjectMeta{Name: roleName}, Rules: g.Rules}, metav1.CreateOptions{})
			if err == nil {
				_, err = admin.RbacV1().RoleBindings(g.Namespace).Create(ctx, &rbacv1.RoleBinding{
					ObjectMeta: metav1.ObjectMeta{Name: roleName}, Subjects: subject,
					RoleRef: rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: roleName}}, metav1.CreateOptions{})
			}
		}
		if err != nil {
			t.Fatalf("testkube: grant %d to %s/%s: %v", i, namespace, name, err)
		}
	}

	tr, err := admin.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: new(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("testkube: token for %s/%s: %v", namespace, name, err)
	}
	for _, g := range grants {
		for _, attr := range accessChecks(g) {
			attr.User = "system:serviceaccount:" + namespace + ":" + name
			attr.Groups = []string{"system:serviceaccounts", "system:serviceaccounts:" + namespace, "system:authenticated"}
			waitAllowed(t, admin, attr)
		}
	}

	cfg := c.Config()
	cfg.BearerToken = tr.Status.Token
	return cfg
}

// accessChecks lists one access review per verb, group, resource and name a grant allows.
func accessChecks(g Grant) []authorizationv1.SubjectAccessReviewSpec {
	var specs []authorizationv1.SubjectAccessReviewSpec
	for _, r := range g.Rules {
		for _, verb := range r.Verbs {
			for _, url := range r.NonResourceURLs {
				specs = append(specs, authorizationv1.SubjectAccessReviewSpec{
					NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: url, Verb: verb}})
			}
			names := r.ResourceNames
			if len(names) == 0 {
				names = []string{""}
			}
			for _, group := range r.APIGroups {
				for _, res := range r.Resources {
					resource, sub, _ := strings.Cut(res, "/")
					for _, n := range names {
						specs = append(specs, authorizationv1.SubjectAccessReviewSpec{
							ResourceAttributes: &authorizationv1.ResourceAttributes{
								Namespace: g.Namespace, Verb: verb, Group: group,
								Resource: resource, Subresource: sub, Name: n}})
					}
				}
			}
		}
	}
	return specs
}

// waitAllowed waits until the API server's authorizer allows spec.
func waitAllowed(t testing.TB, admin kubernetes.Interface, spec authorizationv1.SubjectAccessReviewSpec) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, rbacTimeout, true,
		func(ctx context.Context) (bool, error) {
			r, err := admin.AuthorizationV1().SubjectAccessReviews().Create(ctx,
				&authorizationv1.SubjectAccessReview{Spec: spec}, metav1.CreateOptions{})
			if err != nil {
				return false, err
			}
			last = r.Status.Reason
			return r.Status.Allowed, nil
		})
	if err != nil {
		t.Fatalf("testkube: %s not allowed %s: %v (%s)", spec.User, describe(spec), err, last)
	}
}

func describe(s authorizationv1.SubjectAccessReviewSpec) string {
	if a := s.NonResourceAttributes; a != nil {
		return a.Verb + " " + a.Path
	}
	a := s.ResourceAttributes
	return fmt.Sprintf("%s %s/%s/%s name=%q in %q", a.Verb, a.Group, a.Resource, a.Subresource, a.Name, a.Namespace)
}

// Clientset is a typed client for the administrator.
func (c *Cluster) Clientset(t testing.TB) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.Config())
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// EnsureNamespace creates the namespace unless it exists.
func (c *Cluster) EnsureNamespace(t testing.TB, name string) {
	t.Helper()
	_, err := c.Clientset(t).CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("testkube: namespace %s: %v", name, err)
	}
}
