// Package kube is the `kubernetes:` source: it reads certificates from the Secrets of a
// cluster through the API server, and makes the API client the other Kubernetes sources
// (cert-manager) share.
package kube

import (
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/flowcontrol"

	"github.com/prometheus/common/version"
)

// Client rate limits. client-go's defaults (5 QPS, burst 10) would make the first LIST of a
// few hundred namespaces take a minute; watches, once started, cost no requests. One limiter
// for every client made from the config (core, networking, dynamic): each would otherwise make
// its own from QPS and Burst, and the exporter's budget would grow with the resources it reads.
const (
	clientQPS   = 50
	clientBurst = 100
)

// RESTConfig is the API client configuration of the `kubernetes:` section: the current
// context of the kubeconfig file, or the pod's service account when kubeconfig is empty.
func RESTConfig(kubeconfig string) (*rest.Config, error) {
	var (
		cfg *rest.Config
		err error
	)
	if kubeconfig == "" {
		cfg, err = rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("kubernetes: in-cluster config (set kubernetes.kubeconfig when not running in a pod): %w", err)
		}
	} else {
		cfg, err = clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
			&clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig}, &clientcmd.ConfigOverrides{}).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("kubernetes.kubeconfig: %w", err)
		}
	}
	cfg.UserAgent = "cert_expiry_exporter/" + version.Version
	cfg.RateLimiter = flowcontrol.NewTokenBucketRateLimiter(clientQPS, clientBurst)
	return cfg, nil
}
