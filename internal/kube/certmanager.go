package kube

import (
	"cmp"
	"context"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certmanager"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
)

// cert-manager's resources the `kubernetes.cert_manager:` section follows, read with the
// dynamic client (no cert-manager Go module): Certificates, and the ACME Orders and
// Challenges that hold the cause of a failed ACME validation.
var (
	certificatesGVR = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "certificates"}
	ordersGVR       = schema.GroupVersionResource{Group: "acme.cert-manager.io", Version: "v1", Resource: "orders"}
	challengesGVR   = schema.GroupVersionResource{Group: "acme.cert-manager.io", Version: "v1", Resource: "challenges"}
)

// certManagerStatus prefixes the namespace in the source_up name of cert-manager's watches.
const certManagerStatus = "cert-manager/"

// reasonStatus is a Certificate whose status cert-manager cannot have written: the `reason`
// of cert_expiry_exporter_kubernetes_certificate_error.
const reasonStatus = "status"

// objects are the objects of one of cert-manager's resources (or the Gateways), kept as the
// dynamic client decodes them less the fields nothing reads.
type objects struct {
	gvr schema.GroupVersionResource
	// selector is the field selector: the excluded namespaces.
	selector string
	client   dynamic.Interface
	// fields are those kept besides keptMetadata; all others are dropped as objects arrive.
	// cert-manager keeps old CertificateRequests, and their Orders, up to a Certificate's
	// revisionHistoryLimit (without one, all of them): Orders pile up, one per issuance, each
	// with its CSR, the issued chain, its authorizations and their challenges.
	fields [][]string
}

// keptMetadata are the metadata fields the store and the classification read: the key, the
// version the reflector resumes from, and what ties an Order to its Certificate (the
// certificate-name annotation, the newest by creation) and a Challenge to its Order.
var keptMetadata = []string{"name", "namespace", "uid", "resourceVersion", "creationTimestamp", "ownerReferences"}

func (r *objects) String() string { return r.gvr.GroupResource().String() }

func (r *objects) name() string { return r.gvr.Resource }

func (r *objects) expected() runtime.Object { return &unstructured.Unstructured{} }

func (r *objects) list(ctx context.Context, namespace string, opts metav1.ListOptions) (runtime.Object, error) {
	opts.FieldSelector = r.selector
	l, err := r.client.Resource(r.gvr).Namespace(namespace).List(ctx, opts)
	if err != nil {
		return nil, err
	}
	for i := range l.Items {
		r.trim(&l.Items[i])
	}
	return l, nil
}

func (r *objects) watch(ctx context.Context, namespace string, opts metav1.ListOptions) (watch.Interface, error) {
	opts.FieldSelector = r.selector
	return r.client.Resource(r.gvr).Namespace(namespace).Watch(ctx, opts)
}

func (r *objects) keep(ev watch.Event) runtime.Object {
	if u, ok := ev.Object.(*unstructured.Unstructured); ok {
		r.trim(u)
	}
	return ev.Object
}

// trim replaces u's fields with those kept. A kept field under one that is not an object is
// left out: nothing cert-manager wrote, and the classification reads it as absent.
func (r *objects) trim(u *unstructured.Unstructured) {
	out := map[string]any{"apiVersion": u.GetAPIVersion(), "kind": u.GetKind()}
	md, _, _ := unstructured.NestedMap(u.Object, "metadata")
	kept := map[string]any{}
	for _, f := range keptMetadata {
		if v, ok := md[f]; ok {
			kept[f] = v
		}
	}
	if c, ok := u.GetAnnotations()[certmanager.CertificateNameAnnotation]; ok {
		kept["annotations"] = map[string]any{certmanager.CertificateNameAnnotation: c}
	}
	out["metadata"] = kept
	for _, f := range r.fields {
		if v, ok, err := unstructured.NestedFieldNoCopy(u.Object, f...); ok && err == nil {
			_ = unstructured.SetNestedField(out, v, f...) // out holds only objects on the way
		}
	}
	u.Object = out
}

// certManagerResources are the resources the section follows.
func certManagerResources(client dynamic.Interface, selector string, acme bool) []resource {
	out := []resource{&objects{gvr: certificatesGVR, selector: selector, client: client, fields: [][]string{{"spec"}, {"status"}}}}
	if acme {
		out = append(out,
			&objects{gvr: ordersGVR, selector: selector, client: client, fields: [][]string{{"status", "reason"}}},
			&objects{gvr: challengesGVR, selector: selector, client: client, fields: [][]string{{"status", "reason"}, {"status", "state"}}})
	}
	return out
}

// certificateError is a Certificate whose status cannot be read, a series of
// cert_expiry_exporter_kubernetes_certificate_error.
type certificateError struct{ namespace, name string }

// renewals classifies the Certificates with the Orders and Challenges of their namespace:
// their renewal state (cert_renewal_failure, client cert-manager, lineage
// <namespace>/<name>), and the Certificates whose status cannot be read.
func renewals(crts, orders, challenges []*unstructured.Unstructured) ([]source.Renewal, []source.Problem, []certificateError) {
	byNS := func(objs []*unstructured.Unstructured) map[string][]*unstructured.Unstructured {
		m := map[string][]*unstructured.Unstructured{}
		for _, o := range objs {
			m[o.GetNamespace()] = append(m[o.GetNamespace()], o)
		}
		return m
	}
	ordersNS, challengesNS := byNS(orders), byNS(challenges)
	var rs []source.Renewal
	var problems []source.Problem
	var errs []certificateError
	for _, crt := range crts {
		ns := crt.GetNamespace()
		st, err := certmanager.Classify(crt, ordersNS[ns], challengesNS[ns])
		if err != nil {
			errs = append(errs, certificateError{ns, crt.GetName()})
			problems = append(problems, source.Problem{Source: certs.SourceKubernetes,
				Where: "Certificate " + ns + "/" + crt.GetName(), Reason: reasonStatus, Message: err.Error()})
			continue
		}
		r := source.Renewal{Client: certs.ClientCertManager, Lineage: ns + "/" + st.Name, Reason: st.Reason, Message: st.Message}
		if len(st.Domains) > 0 {
			r.Domain = st.Domains[0]
		}
		if st.Failed() {
			r.LastAttempt = st.LastFailure
		}
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(a, b source.Renewal) int { return cmp.Compare(a.Lineage, b.Lineage) })
	return rs, problems, errs
}
