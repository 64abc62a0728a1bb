package collector

import (
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/certs"
)

// certLabels are shared by every certificate series, so that two certificates never collide.
var certLabels = []string{"source", "domain", "issuer", "serial", "path", "index", "lineage", "target", "ip"}

// chainLabels identify one file or one probed address.
var chainLabels = []string{"source", "path", "lineage", "target", "ip"}

// maxSANsLabel bounds the sans label of cert_info.
const maxSANsLabel = 256

var (
	certExpiry     = prometheus.NewDesc("cert_expiry_seconds", "Seconds until the certificate's NotAfter, computed at scrape time; negative when expired.", certLabels, nil)
	certNotAfter   = prometheus.NewDesc("cert_not_after_timestamp_seconds", "Certificate NotAfter as a Unix timestamp.", certLabels, nil)
	certNotBefore  = prometheus.NewDesc("cert_not_before_timestamp_seconds", "Certificate NotBefore as a Unix timestamp.", certLabels, nil)
	certLifetime   = prometheus.NewDesc("cert_lifetime_seconds", "Certificate validity period: NotAfter - NotBefore.", certLabels, nil)
	certRenewalDue = prometheus.NewDesc("cert_renewal_due_timestamp_seconds", "When the certificate should have been renewed: NotBefore + 2/3 of its lifetime, or the ARI window start when known.", certLabels, nil)
	certInfo       = prometheus.NewDesc("cert_info", "Descriptive certificate data; always 1.", append(append([]string{}, certLabels...), "subject", "sans", "key_type", "signature_algorithm", "is_ca", "staging"), nil)
	certStaging    = prometheus.NewDesc("cert_staging", "1 when the certificate comes from a staging/test CA.", certLabels, nil)
	certRevoked    = prometheus.NewDesc("cert_revoked", "1 when the leaf is revoked, 0 when a revocation check says good.", append(append([]string{}, certLabels...), "method"), nil)
	certRevChecked = prometheus.NewDesc("cert_revocation_checked_timestamp_seconds", "When the revocation status was last established.", append(append([]string{}, certLabels...), "method"), nil)

	chainVerified = prometheus.NewDesc("cert_chain_verified", "1 when the chain verifies, else 0, with the reason.", append(append([]string{}, chainLabels...), "reason"), nil)
	chainExpiry   = prometheus.NewDesc("cert_chain_expiry_timestamp_seconds", "Earliest NotAfter along the verified chain (the served certificates when it does not verify).", chainLabels, nil)
	chainLength   = prometheus.NewDesc("cert_chain_length", "Number of certificates in the file or served by the endpoint.", chainLabels, nil)
)

// collectChains emits the certificate and chain series of chains; now is the scrape time.
func collectChains(ch chan<- prometheus.Metric, chains []certs.Chain, now time.Time, j joins) {
	for i := range chains {
		collectChain(ch, &chains[i], now, j)
	}
}

func collectChain(ch chan<- prometheus.Metric, c *certs.Chain, now time.Time, j joins) {
	loc := c.Location
	cl := []string{loc.Source, loc.Path, loc.Lineage, loc.Target, loc.IP}
	if len(c.Certs) > 0 {
		ch <- prometheus.MustNewConstMetric(chainVerified, prometheus.GaugeValue, b2f(c.Verify.OK()), append(cl, c.Verify.Reason)...)
		ch <- prometheus.MustNewConstMetric(chainExpiry, prometheus.GaugeValue, unix(c.Verify.ChainExpiry), cl...)
	}
	ch <- prometheus.MustNewConstMetric(chainLength, prometheus.GaugeValue, float64(len(c.Certs)), cl...)
	for i, x := range c.Certs {
		l := []string{loc.Source, x.Domain, x.Issuer, x.Serial, loc.Path, strconv.Itoa(i), loc.Lineage, loc.Target, loc.IP}
		ch <- prometheus.MustNewConstMetric(certExpiry, prometheus.GaugeValue, x.NotAfter.Sub(now).Seconds(), l...)
		ch <- prometheus.MustNewConstMetric(certNotAfter, prometheus.GaugeValue, unix(x.NotAfter), l...)
		ch <- prometheus.MustNewConstMetric(certNotBefore, prometheus.GaugeValue, unix(x.NotBefore), l...)
		ch <- prometheus.MustNewConstMetric(certLifetime, prometheus.GaugeValue, x.Lifetime().Seconds(), l...)
		staging := j.isStaging(x, loc)
		ch <- prometheus.MustNewConstMetric(certRenewalDue, prometheus.GaugeValue, unix(j.renewalDue(x)), l...)
		ch <- prometheus.MustNewConstMetric(certStaging, prometheus.GaugeValue, b2f(staging), l...)
		ch <- prometheus.MustNewConstMetric(certInfo, prometheus.GaugeValue, 1,
			append(l, x.Subject, joinBounded(x.SANs, maxSANsLabel), x.KeyType, x.SigAlg, strconv.FormatBool(x.IsCA), strconv.FormatBool(staging))...)
		if i == 0 && c.Revocation != nil {
			r := c.Revocation
			ch <- prometheus.MustNewConstMetric(certRevoked, prometheus.GaugeValue, b2f(r.Revoked), append(l, r.Method)...)
			ch <- prometheus.MustNewConstMetric(certRevChecked, prometheus.GaugeValue, unix(r.CheckedAt), append(l, r.Method)...)
		}
	}
}

// joinBounded joins with commas and cuts at max bytes (on a rune boundary) with an ellipsis,
// so a certificate with thousands of SANs cannot blow up a label.
func joinBounded(s []string, max int) string {
	j := strings.Join(s, ",")
	if len(j) <= max {
		return j
	}
	cut := max
	for cut > 0 && !utf8Start(j[cut]) {
		cut--
	}
	return j[:cut] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unix(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

// Chains collects a fixed set of chains, e.g. into /probe's per-request registry.
type Chains struct {
	Chains []certs.Chain
	Now    time.Time
}

// Describe sends nothing: the collector is unchecked because its series vary per request.
func (Chains) Describe(chan<- *prometheus.Desc) {}

// Collect emits the certificate and chain series.
func (c Chains) Collect(ch chan<- prometheus.Metric) { collectChains(ch, c.Chains, c.Now, joins{}) }
