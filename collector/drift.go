package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/inventory"
)

var servedOutdated = prometheus.NewDesc("cert_served_outdated",
	"1 when the endpoint serves an older certificate than the file or Secret it is to serve holds (the Secret its Ingress or Gateway names, else any with the same names), for longer than drift.grace_period; 0 while it matches.",
	[]string{"target", "ip", "path", "namespace", "secret", "key", "lineage", "domain"}, nil)

// collectDrift emits the served-vs-disk join.
func collectDrift(ch chan<- prometheus.Metric, drift []inventory.Drift) {
	for _, d := range drift {
		ch <- prometheus.MustNewConstMetric(servedOutdated, prometheus.GaugeValue, Bool(d.Outdated), d.Target, d.IP, d.Path, d.Namespace, d.Secret, d.Key, d.Lineage, d.Domain)
	}
}
