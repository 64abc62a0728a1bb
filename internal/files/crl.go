package files

import (
	"crypto/x509"
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/collector"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
)

// decodeWithCRLs decodes a file's certificates (with their entries, for a Java keystore) and
// keeps its CRLs in p: a files: entry may name CRL files (a server's ssl_crl bundle, a
// distribution point's download) beside certificate files, told apart by content as PEM, DER,
// PKCS#12 and JKS are. A file of CRLs only has no
// certificate, which is then no error; a CRL block that does not parse is.
func decodeWithCRLs(p *parsed, data []byte, password string) ([]*x509.Certificate, certs.Keystore, error) {
	crls, found, crlErr := certs.DecodeCRLs(data)
	if found {
		r := p.edit()
		r.holdsCRL, r.crls = true, crls
		if crlErr != nil {
			r.crlErr = crlErr.Error()
		}
	}
	var (
		xs  []*x509.Certificate
		ks  certs.Keystore
		err error
	)
	// A DER CRL is nothing else; PEM may hold certificates beside its CRL blocks.
	if !found || certs.IsPEM(data) {
		xs, ks, err = certs.DecodeAliases(data, password)
	}
	if found && errors.Is(err, certs.ErrNoCertificate) {
		err = nil
	}
	return xs, ks, errors.Join(err, crlErr)
}

var (
	crlLabels     = []string{"path", "index", "issuer"}
	crlThisUpdate = prometheus.NewDesc("cert_crl_this_update_timestamp_seconds",
		"A stored CRL's thisUpdate (when it was published) as a Unix timestamp.", crlLabels, nil)
	crlNextUpdate = prometheus.NewDesc("cert_crl_next_update_timestamp_seconds",
		"A stored CRL's nextUpdate (by when its issuer publishes the next one) as a Unix timestamp; absent when it has none.", crlLabels, nil)
	// crlInfoDescs are cert_crl_info with the owner label names of an entry, by the names
	// joined: config-defined, so few.
	crlInfoDescs sync.Map
)

const crlInfoHelp = "A stored CRL with the owner labels of its files: entry, for the rules to join; always 1."

// crlInfoDesc is cert_crl_info with the owner label names of labels after its own: like
// cert_info, it carries them so that the other CRL series do not, and
// CertificateRevocationListStale joins them from it.
func crlInfoDesc(labels certs.Labels) *prometheus.Desc {
	names := make([]string, len(labels))
	for i, l := range labels {
		names[i] = l.Name
	}
	key := strings.Join(names, ",")
	if d, ok := crlInfoDescs.Load(key); ok {
		return d.(*prometheus.Desc)
	}
	d, _ := crlInfoDescs.LoadOrStore(key, prometheus.NewDesc("cert_crl_info", crlInfoHelp, append(slices.Clone(crlLabels), names...), nil))
	return d.(*prometheus.Desc)
}

// snapshotMetrics emits the file error series and the CRL families of the files found (three
// series per CRL, by its file and position there (index), so that a republished CRL keeps its
// series); nil when there are none.
func snapshotMetrics(errs []FileError, files []source.CRLFile) func(chan<- prometheus.Metric) {
	errMetrics := ErrorMetrics(errs)
	if len(files) == 0 {
		return errMetrics
	}
	return func(ch chan<- prometheus.Metric) {
		if errMetrics != nil {
			errMetrics(ch)
		}
		for _, f := range files {
			info := crlInfoDesc(f.Labels)
			for i, c := range f.CRLs {
				lv := []string{f.Path, strconv.Itoa(i), collector.Bounded(c.Issuer)}
				ch <- prometheus.MustNewConstMetric(crlThisUpdate, prometheus.GaugeValue, collector.Unix(c.ThisUpdate), lv...)
				if !c.NextUpdate.IsZero() {
					ch <- prometheus.MustNewConstMetric(crlNextUpdate, prometheus.GaugeValue, collector.Unix(c.NextUpdate), lv...)
				}
				for _, l := range f.Labels {
					lv = append(lv, l.Value)
				}
				ch <- prometheus.MustNewConstMetric(info, prometheus.GaugeValue, 1, lv...)
			}
		}
	}
}
