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

// maxLabelBytes bounds label values taken from certificates (sans, subject, domain, issuer, serial).
const maxLabelBytes = 256

var (
	certExpiry     = newFamily("cert_expiry_seconds", "Seconds until the certificate's NotAfter, computed at scrape time; negative when expired.", certLabels)
	certNotAfter   = newFamily("cert_not_after_timestamp_seconds", "Certificate NotAfter as a Unix timestamp.", certLabels)
	certNotBefore  = newFamily("cert_not_before_timestamp_seconds", "Certificate NotBefore as a Unix timestamp.", certLabels)
	certLifetime   = newFamily("cert_lifetime_seconds", "Certificate validity period: NotAfter - NotBefore.", certLabels)
	certRenewalDue = newFamily("cert_renewal_due_timestamp_seconds", "When the certificate should have been renewed: NotBefore + 2/3 of its lifetime, or the ARI window start when known.", certLabels)
	certInfo       = newFamily("cert_info", "Descriptive certificate data; always 1.", certLabels, "subject", "sans", "key_type", "signature_algorithm", "is_ca", "staging")
	certStaging    = newFamily("cert_staging", "1 when the certificate comes from a staging/test CA.", certLabels)
	certRevoked    = newFamily("cert_revoked", "1 when the leaf is revoked, 0 when a revocation check says good.", certLabels, "method")
	certRevChecked = newFamily("cert_revocation_checked_timestamp_seconds", "When the revocation status was last established.", certLabels, "method")

	chainVerified = newFamily("cert_chain_verified", "1 when the chain verifies, else 0, with the reason.", chainLabels, "reason")
	chainExpiry   = newFamily("cert_chain_expiry_timestamp_seconds", "Earliest NotAfter along the verified chain (the served certificates when it does not verify).", chainLabels)
	chainLength   = newFamily("cert_chain_length", "Number of certificates in the file or served by the endpoint.", chainLabels)

	// chainFamilies lists the families above in the order WriteChains writes them.
	chainFamilies = []*family{chainVerified, chainExpiry, chainLength, certExpiry, certNotAfter, certNotBefore,
		certLifetime, certRenewalDue, certStaging, certInfo, certRevoked, certRevChecked}
)

// family is a gauge family of the certificate and chain series: its Desc for the registry
// and what the text writer needs (WriteChains), from one definition.
type family struct {
	desc       *prometheus.Desc
	name, help string
	header     string   // HELP and TYPE lines
	prefixes   []string // text before each label value, in label name order
	order      []int    // label value indexes in label name order
}

func newFamily(name, help string, labels []string, extra ...string) *family {
	l := append(append([]string{}, labels...), extra...)
	order := labelOrder(l)
	return &family{desc: prometheus.NewDesc(name, help, l, nil), name: name, help: help, header: textHeader(name, help), prefixes: labelPrefixes(name, l, order), order: order}
}

// emitter receives one series of a family.
type emitter func(f *family, v float64, labelValues ...string)

// chanEmitter sends series to a registry's collection channel.
func chanEmitter(ch chan<- prometheus.Metric) emitter {
	return func(f *family, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(f.desc, prometheus.GaugeValue, v, lv...)
	}
}

// collectChains emits the certificate and chain series of chains; now is the scrape time.
func collectChains(ch chan<- prometheus.Metric, chains []certs.Chain, now time.Time, j joins) {
	if j.written {
		return
	}
	emit := chanEmitter(ch)
	for i := range chains {
		collectChain(emit, &chains[i], now, j)
	}
}

func collectChain(emit emitter, c *certs.Chain, now time.Time, j joins) {
	loc := c.Location
	// One backing array for every label value list: emit copies what it keeps, so the chain
	// costs one allocation instead of several per certificate (WriteChains calls this once
	// per family on every scrape).
	var scratch [16]string
	cl := append(scratch[:0], loc.Source, loc.Path, loc.Lineage, loc.Target, loc.IP)
	if len(c.Certs) > 0 {
		emit(chainVerified, b2f(c.Verify.OK()), append(cl, c.Verify.Reason)...)
		emit(chainExpiry, unix(c.Verify.ChainExpiry), cl...)
	}
	emit(chainLength, float64(len(c.Certs)), cl...)
	for i, x := range c.Certs {
		l := append(scratch[:0], loc.Source, bounded(x.Domain), bounded(x.Issuer), bounded(x.Serial), loc.Path, strconv.Itoa(i), loc.Lineage, loc.Target, loc.IP)
		emit(certExpiry, x.NotAfter.Sub(now).Seconds(), l...)
		emit(certNotAfter, unix(x.NotAfter), l...)
		emit(certNotBefore, unix(x.NotBefore), l...)
		emit(certLifetime, x.Lifetime().Seconds(), l...)
		staging := j.isStaging(x, loc)
		emit(certRenewalDue, unix(j.renewalDue(x)), l...)
		emit(certStaging, b2f(staging), l...)
		emit(certInfo, 1, append(l, bounded(x.Subject), joinBounded(x.SANs, maxLabelBytes), x.KeyType, x.SigAlg, strconv.FormatBool(x.IsCA), strconv.FormatBool(staging))...)
		if i == 0 && c.Revocation != nil {
			r := c.Revocation
			emit(certRevoked, b2f(r.Revoked), append(l, r.Method)...)
			emit(certRevChecked, unix(r.CheckedAt), append(l, r.Method)...)
		}
	}
}

// joinBounded joins with commas and cuts at max bytes (on a rune boundary) with an ellipsis,
// so a certificate with thousands of SANs cannot blow up a label.
func joinBounded(s []string, max int) string {
	return cut(strings.Join(s, ","), max)
}

// bounded cuts a label value taken from a certificate (attacker-controlled for probes) to
// maxLabelBytes bytes; the location labels still keep two certificates apart.
func bounded(s string) string { return cut(s, maxLabelBytes) }

// cut shortens s to at most max bytes on a rune boundary, marking the cut with an ellipsis.
func cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	n := max
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n] + "…"
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
