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

// listener is a Gateway listener that is probed: its hostname and port.
type listener struct {
	host string
	port int
}

// gatewayListeners are the probed listeners of a Gateway: protocol HTTPS or TLS, the TLS
// terminated by the Gateway (with Passthrough the backend serves a certificate the Gateway
// knows nothing of), with a hostname that is not a wildcard (no name to dial, as for an
// Ingress). A field of the wrong type is read as absent.
func gatewayListeners(gw *unstructured.Unstructured) []listener {
	ls, _, _ := unstructured.NestedSlice(gw.Object, "spec", "listeners")
	var out []listener
	for _, l := range ls {
		m, ok := l.(map[string]any)
		if !ok {
			continue
		}
		proto, _, _ := unstructured.NestedString(m, "protocol")
		mode, _, _ := unstructured.NestedString(m, "tls", "mode")
		host, _, _ := unstructured.NestedString(m, "hostname")
		port, _, _ := unstructured.NestedInt64(m, "port")
		host = strings.TrimSuffix(strings.ToLower(host), ".")
		if (proto != "HTTPS" && proto != "TLS") || cmp.Or(mode, "Terminate") != "Terminate" ||
			host == "" || strings.HasPrefix(host, "*") || port < 1 || port > 65535 {
			continue
		}
		if k := (listener{host, int(port)}); !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// gatewayAddresses are where the Gateway says it is reached: its status.addresses of type
// IPAddress (the default) or Hostname; an implementation-specific type names no address to
// dial.
func gatewayAddresses(gw *unstructured.Unstructured) []string {
	as, _, _ := unstructured.NestedSlice(gw.Object, "status", "addresses")
	var out []string
	for _, a := range as {
		m, ok := a.(map[string]any)
		if !ok {
			continue
		}
		typ, _, _ := unstructured.NestedString(m, "type")
		v, _, _ := unstructured.NestedString(m, "value")
		if (typ == "" || typ == "IPAddress" || typ == "Hostname") && v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}
