package kube

// The `kubernetes.gateways:` part of the kubernetes_ingresses source: the TLS listeners of
// the Gateway API Gateways are probe targets as an Ingress's TLS hosts are, in the same
// namespaces, with the same bound and one target for a host both name. Gateways are read
// with the dynamic client (no gateway-api Go module); a cluster without the Gateway CRD is a
// not_found watch that its reflector retries, so installing the CRD later is seen.

import (
	"cmp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

var gatewaysGVR = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "gateways"}

// gatewayStatus prefixes the namespace in the source_up name of the Gateway watches.
const gatewayStatus = "gateways/"

// gateways are the Gateways of a namespace, kept with their listeners and addresses only.
func gateways(client dynamic.Interface, selector string) resource {
	return &objects{gvr: gatewaysGVR, selector: selector, client: client, fields: [][]string{{"spec", "listeners"}, {"status", "addresses"}}}
}

// listener is a Gateway listener that is probed: its hostname and port, and the Secrets its
// certificateRefs name (of listeners with the same hostname and port, merged).
type listener struct {
	host    string
	port    int
	secrets []secretRef
}

// secretRef is a Secret an Ingress or a Gateway listener serves.
type secretRef struct{ namespace, name string }

// gatewayListeners are the probed listeners of a Gateway: protocol HTTPS or TLS, the TLS
// terminated by the Gateway (with Passthrough the backend serves a certificate the Gateway
// knows nothing of), with a hostname that is not a wildcard (no name to dial, as for an
// Ingress). A field of the wrong type is read as absent.
func gatewayListeners(gw *unstructured.Unstructured) []listener {
	var out []listener
	for _, m := range nestedMaps(gw.Object, "spec", "listeners") {
		proto, _, _ := unstructured.NestedString(m, "protocol")
		mode, _, _ := unstructured.NestedString(m, "tls", "mode")
		host, _, _ := unstructured.NestedString(m, "hostname")
		port, _, _ := unstructured.NestedInt64(m, "port")
		host = strings.TrimSuffix(strings.ToLower(host), ".")
		if (proto != "HTTPS" && proto != "TLS") || cmp.Or(mode, "Terminate") != "Terminate" ||
			host == "" || strings.HasPrefix(host, "*") || port < 1 || port > 65535 {
			continue
		}
		out = addListener(out, host, int(port), certificateRefs(m, gw.GetNamespace())...)
	}
	return out
}

// addListener adds host:port to ls, or its refs to the listener ls has for it already.
func addListener(ls []listener, host string, port int, refs ...secretRef) []listener {
	i := slices.IndexFunc(ls, func(l listener) bool { return l.host == host && l.port == port })
	if i < 0 {
		ls = append(ls, listener{host: host, port: port})
		i = len(ls) - 1
	}
	ls[i].secrets = addRefs(ls[i].secrets, refs...)
	return ls
}

// addRefs adds to dst the refs it does not hold.
func addRefs(dst []secretRef, refs ...secretRef) []secretRef {
	for _, r := range refs {
		if !slices.Contains(dst, r) {
			dst = append(dst, r)
		}
	}
	return dst
}

// certificateRefs are the Secrets of a listener's tls.certificateRefs: group "" and kind
// Secret by default, in the Gateway's namespace unless the reference names another (which a
// ReferenceGrant must allow: the Gateway's status says whether it does, not this).
func certificateRefs(l map[string]any, namespace string) []secretRef {
	var out []secretRef
	for _, m := range nestedMaps(l, "tls", "certificateRefs") {
		group, _, _ := unstructured.NestedString(m, "group")
		kind, _, _ := unstructured.NestedString(m, "kind")
		name, _, _ := unstructured.NestedString(m, "name")
		ns, _, _ := unstructured.NestedString(m, "namespace")
		if group != "" || cmp.Or(kind, "Secret") != "Secret" || name == "" {
			continue
		}
		out = append(out, secretRef{cmp.Or(ns, namespace), name})
	}
	return out
}

// gatewayAddresses are where the Gateway says it is reached: its status.addresses of type
// IPAddress (the default) or Hostname; an implementation-specific type names no address to
// dial.
func gatewayAddresses(gw *unstructured.Unstructured) []string {
	var out []string
	for _, m := range nestedMaps(gw.Object, "status", "addresses") {
		typ, _, _ := unstructured.NestedString(m, "type")
		v, _, _ := unstructured.NestedString(m, "value")
		if (typ == "" || typ == "IPAddress" || typ == "Hostname") && v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// nestedMaps are the objects of the list at fields of obj; a field or item of another type is
// absent. Read in place: unstructured.NestedSlice would deep-copy the list.
func nestedMaps(obj map[string]any, fields ...string) []map[string]any {
	v, _, _ := unstructured.NestedFieldNoCopy(obj, fields...)
	items, _ := v.([]any)
	out := make([]map[string]any, 0, len(items))
	for _, it := range items {
		if m, ok := it.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}
