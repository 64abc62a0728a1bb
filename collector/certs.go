package collector

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/inventory"
)

// certLabels are shared by every certificate series, so that two certificates never collide.
var certLabels = []string{"source", "domain", "issuer", "serial", "path", "index", "lineage", "target", "ip"}

// certInfoLabels are cert_info's; the owner labels of the config entries follow them.
var certInfoLabels = append(slices.Clone(certLabels), "subject", "sans", "key_type", "signature_algorithm", "is_ca", "staging")

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
	certInfo       = newFamily("cert_info", "Descriptive certificate data; always 1.", certInfoLabels)
	certStaging    = newFamily("cert_staging", "1 when the certificate comes from a staging/test CA.", certLabels)
	certRevoked    = newFamily("cert_revoked", "1 when the leaf is revoked, 0 when a revocation check says good.", certLabels, "method")
	certRevChecked = newFamily("cert_revocation_checked_timestamp_seconds", "When the revocation status was last established.", certLabels, "method")

	chainVerified = newFamily("cert_chain_verified", "1 when the chain verifies, else 0, with the reason.", chainLabels, "reason")
	chainExpiry   = newFamily("cert_chain_expiry_timestamp_seconds", "Earliest NotAfter along the verified chain (the served certificates when it does not verify).", chainLabels)
	chainLength   = newFamily("cert_chain_length", "Number of certificates in the file or served by the endpoint.", chainLabels)
	keyMatch      = newFamily("cert_key_match", "With check_key: 1 when the private key matches the leaf's public key, 0 when it does not.", chainLabels)
	lineageDup    = newFamily("cert_lineage_duplicate", "1 for files of a certbot lineage named like name-0001, a duplicate created by re-running certonly.", chainLabels)

	// perChain are the families with one series per chain rather than per certificate.
	perChain = []*family{chainVerified, chainExpiry, chainLength, keyMatch, lineageDup}
	// chainFamilies lists the families above in the order WriteChains writes them.
	chainFamilies = append(slices.Clone(perChain), certExpiry, certNotAfter, certNotBefore,
		certLifetime, certRenewalDue, certStaging, certInfo, certRevoked, certRevChecked)
)

// infoFamilies are cert_info with the owner label names of a view (config-defined, so few
// sets), by the names joined.
var infoFamilies sync.Map

// infoFamily is cert_info with the owner label names (sorted) after its own labels: every
// cert_info series of a scrape has them, empty where a chain's entry does not set one.
func infoFamily(names []string) *family {
	if len(names) == 0 {
		return certInfo
	}
	key := strings.Join(names, ",")
	if f, ok := infoFamilies.Load(key); ok {
		return f.(*family)
	}
	f, _ := infoFamilies.LoadOrStore(key, newFamily(certInfo.name, certInfo.help, append(slices.Clone(certInfoLabels), names...)))
	return f.(*family)
}

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

// collectChains emits the certificate and chain series of chains; now is the scrape time and
// v the joins (nil: none).
func collectChains(ch chan<- prometheus.Metric, chains []certs.Chain, now time.Time, v *inventory.View) {
	emit := chanEmitter(ch)
	scratch := make([]string, 0, scratchLabels)
	for i := range chains {
		collectChain(emit, nil, &chains[i], now, v, scratch)
	}
}

// scratchLabels is the room collectChain needs for one series' label values.
const scratchLabels = 16

// collectChain emits the series of one chain: of every family when only is nil, else of that
// family alone. WriteChains goes family by family, and computing every family's labels and
// values on each of its twelve passes was half of a scrape. scratch (capacity scratchLabels)
// backs every label value list: emit copies what it keeps, so a scrape allocates it once.
func collectChain(emit emitter, only *family, c *certs.Chain, now time.Time, v *inventory.View, scratch []string) {
	want := func(f *family) bool { return only == nil || only == f }
	loc := c.Location
	cl := append(scratch[:0], loc.Source, loc.Path, loc.Lineage, loc.Target, loc.IP)
	if len(c.Certs) > 0 {
		if want(chainVerified) {
			emit(chainVerified, Bool(c.Verify.OK()), append(cl, c.Verify.Reason)...)
		}
		if want(chainExpiry) {
			emit(chainExpiry, Unix(c.Verify.ChainExpiry), cl...)
		}
	}
	if want(chainLength) {
		emit(chainLength, float64(len(c.Certs)), cl...)
	}
	if c.KeyMatch != nil && want(keyMatch) {
		emit(keyMatch, Bool(*c.KeyMatch), cl...)
	}
	if c.DuplicateLineage && want(lineageDup) {
		emit(lineageDup, 1, cl...)
	}
	if slices.Contains(perChain, only) {
		return
	}
	for i, x := range c.Certs {
		l := append(scratch[:0], loc.Source, bounded(x.Domain), bounded(x.Issuer), bounded(x.Serial), loc.Path, strconv.Itoa(i), loc.Lineage, loc.Target, loc.IP)
		if want(certExpiry) {
			emit(certExpiry, x.NotAfter.Sub(now).Seconds(), l...)
		}
		if want(certNotAfter) {
			emit(certNotAfter, Unix(x.NotAfter), l...)
		}
		if want(certNotBefore) {
			emit(certNotBefore, Unix(x.NotBefore), l...)
		}
		if want(certLifetime) {
			emit(certLifetime, x.Lifetime().Seconds(), l...)
		}
		if want(certRenewalDue) {
			emit(certRenewalDue, Unix(v.RenewalDue(x)), l...)
		}
		if want(certStaging) {
			emit(certStaging, Bool(v.Staging(x, loc)), l...)
		}
		if want(certInfo) {
			info := append(l, bounded(x.Subject), joinBounded(x.SANs, maxLabelBytes), x.KeyType, x.SigAlg,
				strconv.FormatBool(x.IsCA), strconv.FormatBool(v.Staging(x, loc)))
			names := v.LabelNames()
			for _, n := range names {
				info = append(info, c.Labels.Get(n))
			}
			emit(infoFamily(names), 1, info...)
		}
		if i == 0 && c.Revocation != nil {
			r := c.Revocation
			if want(certRevoked) {
				emit(certRevoked, Bool(r.Revoked), append(l, r.Method)...)
			}
			if want(certRevChecked) {
				emit(certRevChecked, Unix(r.CheckedAt), append(l, r.Method)...)
			}
		}
	}
}

// joinBounded joins with commas and cuts at limit bytes (on a rune boundary) with an ellipsis,
// so a certificate with thousands of SANs cannot blow up a label.
func joinBounded(s []string, limit int) string {
	return cut(strings.Join(s, ","), limit)
}

// bounded cuts a label value taken from a certificate (attacker-controlled for probes) to
// maxLabelBytes bytes; the location labels still keep two certificates apart.
func bounded(s string) string { return cut(s, maxLabelBytes) }

// cut shortens s to at most limit bytes on a rune boundary, marking the cut with an ellipsis.
func cut(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	n := limit
	for n > 0 && !utf8Start(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8Start(b byte) bool { return b&0xC0 != 0x80 }

// Bool is a boolean sample value.
func Bool(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Unix is a timestamp sample value; 0 for the zero time.
func Unix(t time.Time) float64 {
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
func (c Chains) Collect(ch chan<- prometheus.Metric) { collectChains(ch, c.Chains, c.Now, nil) }
