package collector

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/inventory"
)

// locationLabels name where a chain was found (certs.Location): every certificate and chain
// series carries them, so that two chains never collide. A source sets the ones that apply to
// it; the others are empty and left out of its series (an empty label is an absent one to
// Prometheus), so a label added here for a new source costs the other sources nothing.
var locationLabels = []struct {
	name  string
	value func(*certs.Location) string
}{
	{"source", func(l *certs.Location) string { return l.Source }},
	{"path", func(l *certs.Location) string { return l.Path }},
	{"lineage", func(l *certs.Location) string { return l.Lineage }},
	{"target", func(l *certs.Location) string { return l.Target }},
	{"ip", func(l *certs.Location) string { return l.IP }},
	{"namespace", func(l *certs.Location) string { return l.Namespace }},
	{"secret", func(l *certs.Location) string { return l.Secret }},
	{"configmap", func(l *certs.Location) string { return l.ConfigMap }},
	{"key", func(l *certs.Location) string { return l.Key }},
	{"module", func(l *certs.Location) string { return l.Module }},
}

// certKeyLabels follow the location labels on every certificate series.
var certKeyLabels = []string{"domain", "issuer", "serial", "index"}

// certInfoLabels are cert_info's; the owner labels of the config entries follow them.
var certInfoLabels = append(slices.Clone(certLabels), "subject", "sans", "key_type", "signature_algorithm", "is_ca", "staging", "eku", "alias")

// maxLabelBytes bounds label values taken from certificates (sans, subject, domain, issuer, serial)
// and from the files holding them (a keystore alias).
const maxLabelBytes = 256

var (
	chainLabels = locationLabelNames()
	certLabels  = append(locationLabelNames(), certKeyLabels...)
)

func locationLabelNames() []string {
	n := make([]string, len(locationLabels))
	for i, l := range locationLabels {
		n[i] = l.name
	}
	return n
}

// The families are chosen for what a Prometheus server pays per series: nothing it can derive
// (lifetime = NotAfter - NotBefore, the renewal point, staging beside cert_info) and nothing
// that only repeats another series (a chain's expiry when it is the leaf's).
var (
	certExpiry     = newFamily("cert_expiry_seconds", "Seconds until the certificate's NotAfter, computed at scrape time; negative when expired.", certLabels)
	certNotAfter   = newFamily("cert_not_after_timestamp_seconds", "Certificate NotAfter as a Unix timestamp.", certLabels)
	certNotBefore  = newFamily("cert_not_before_timestamp_seconds", "Certificate NotBefore as a Unix timestamp.", certLabels)
	certInfo       = newFamily("cert_info", "Descriptive certificate data; always 1.", certInfoLabels)
	certRevoked    = newFamily("cert_revoked", "1 when the leaf is revoked, 0 when a revocation check says good.", certLabels, "method")
	certRevChecked = newFamily("cert_revocation_checked_timestamp_seconds", "When the revocation status was last established.", certLabels, "method")
	// One family for every policy a leaf can break, with a series only for a leaf that breaks
	// one: a tree that keeps the rules pays nothing (certs.Chain.Violations).
	certPolicy = newFamily("cert_policy_violation", "1 for a leaf certificate that breaks the policy named by the policy label.", certLabels, "policy")

	chainVerified = newFamily("cert_chain_verified", "1 when the chain verifies, else 0, with the reason.", chainLabels, "reason")
	chainExpiry   = newFamily("cert_chain_expiry_timestamp_seconds", "Earliest NotAfter along the verified chain (the served certificates when it does not verify), when it is before the leaf's NotAfter.", chainLabels)
	keyMatch      = newFamily("cert_key_match", "With check_key: 1 when the private key matches the leaf's public key, 0 when it does not.", chainLabels)
	lineageDup    = newFamily("cert_lineage_duplicate", "1 for files of a certbot lineage named like name-0001, a duplicate created by re-running certonly.", chainLabels)

	// perChain are the families with one series per chain rather than per certificate.
	perChain = []*family{chainVerified, chainExpiry, keyMatch, lineageDup}
	// chainFamilies lists the families above in the order WriteChains writes them.
	chainFamilies = append(slices.Clone(perChain), certExpiry, certNotAfter, certNotBefore,
		certInfo, certRevoked, certRevChecked, certPolicy)
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
	labels     []string // label names, in label value order
	order      []int    // label value indexes in label name order
}

func newFamily(name, help string, labels []string, extra ...string) *family {
	l := append(append([]string{}, labels...), extra...)
	return &family{desc: prometheus.NewDesc(name, help, l, nil), name: name, help: help, header: textHeader(name, help), labels: l, order: labelOrder(l)}
}

// emitter receives one series of a family; empty label values are left out.
type emitter func(f *family, v float64, labelValues ...string)

// gauge is one series for a registry: a const metric without the empty labels.
type gauge struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair
	value  float64
}

func (g *gauge) Desc() *prometheus.Desc { return g.desc }

func (g *gauge) Write(m *dto.Metric) error {
	m.Label = g.labels
	m.Gauge = &dto.Gauge{Value: &g.value}
	return nil
}

// chanEmitter sends series to a registry's collection channel.
func chanEmitter(ch chan<- prometheus.Metric) emitter {
	return func(f *family, v float64, lv ...string) {
		vals := slices.Clone(lv) // lv is the caller's scratch
		// Room for the labels set only: most location labels are empty on any one source's
		// series (a file has no target, ip, namespace, secret, configmap, key, module).
		n := 0
		for _, x := range vals {
			if x != "" {
				n++
			}
		}
		pairs := make([]dto.LabelPair, 0, n)
		g := &gauge{desc: f.desc, value: v, labels: make([]*dto.LabelPair, 0, n)}
		for _, i := range f.order {
			if vals[i] != "" {
				pairs = append(pairs, dto.LabelPair{Name: &f.labels[i], Value: &vals[i]})
				g.labels = append(g.labels, &pairs[len(pairs)-1])
			}
		}
		ch <- g
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
const scratchLabels = 24

// collectChain emits the series of one chain: of every family when only is nil, else of that
// family alone. WriteChains goes family by family, and computing every family's labels and
// values on each of its passes was half of a scrape. scratch (capacity scratchLabels) backs
// every label value list: emit copies what it keeps, so a scrape allocates it once.
func collectChain(emit emitter, only *family, c *certs.Chain, now time.Time, v *inventory.View, scratch []string) {
	want := func(f *family) bool { return only == nil || only == f }
	// The policy family's own pass (WriteChains) skips the labels of the chains, nearly all,
	// that break no policy.
	var violations []string
	if want(certPolicy) {
		if violations = c.Violations(); only == certPolicy && violations == nil {
			return
		}
	}
	loc := &c.Location
	cl := scratch[:0]
	for _, l := range locationLabels {
		cl = append(cl, l.value(loc))
	}
	nl := len(cl)
	if len(c.Certs) > 0 {
		if want(chainVerified) {
			emit(chainVerified, Bool(c.Verify.OK()), append(cl, c.Verify.Reason)...)
		}
		if e := c.Verify.ChainExpiry; want(chainExpiry) && !e.IsZero() && e.Before(c.Certs[0].NotAfter) {
			emit(chainExpiry, Unix(e), cl...)
		}
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
		l := append(cl[:nl], Bounded(x.Domain), Bounded(x.Issuer), Bounded(x.Serial), strconv.Itoa(i))
		// A CA certificate behind the leaf is never paged on by itself (the chain's earliest
		// expiry is cert_chain_expiry_timestamp_seconds) and has no renewal point: its NotAfter
		// and cert_info are enough to find it, and half of a fullchain's series go.
		issuerCA := i > 0 && x.IsCA
		if want(certExpiry) && !issuerCA {
			// Whole seconds: X.509 times are, and the fraction was a third of the line.
			emit(certExpiry, float64(x.NotAfter.Unix()-now.Unix()), l...)
		}
		if want(certNotAfter) {
			emit(certNotAfter, Unix(x.NotAfter), l...)
		}
		if want(certNotBefore) && !issuerCA {
			emit(certNotBefore, Unix(x.NotBefore), l...)
		}
		if want(certInfo) {
			info := append(l, Bounded(x.Subject), joinBounded(x.SANs, maxLabelBytes), x.KeyType, x.SigAlg,
				onlyTrue(x.IsCA), onlyTrue(v.Staging(x, *loc)), x.EKU, Bounded(x.Alias))
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
		if i == 0 {
			for _, p := range violations {
				emit(certPolicy, 1, append(l, p)...)
			}
		}
	}
}

// joinBounded joins with commas and cuts at limit bytes (on a rune boundary) with an ellipsis,
// so a certificate with thousands of SANs cannot blow up a label.
func joinBounded(s []string, limit int) string {
	return cut(strings.Join(s, ","), limit)
}

// Bounded cuts a label value taken from a certificate or CRL (attacker-controlled for probes) to
// maxLabelBytes bytes; the location labels still keep two certificates apart.
func Bounded(s string) string { return cut(s, maxLabelBytes) }

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

// onlyTrue is a flag label's value: "true", or empty (so left out) when false, as most
// certificates are neither CAs nor staging and the label cost every cert_info line 15 bytes.
func onlyTrue(b bool) string {
	if b {
		return "true"
	}
	return ""
}

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
