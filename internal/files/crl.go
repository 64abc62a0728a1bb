package files

import (
	"crypto/x509"
	"errors"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/collector"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
)

// decodeWithCRLs decodes a file's certificates (with their aliases, for a Java keystore) and
// keeps its CRLs in p: a files: entry may name CRL files (a server's ssl_crl bundle, a
// distribution point's download) beside certificate files, told apart by content as PEM, DER,
// PKCS#12 and JKS are. A file of CRLs only has no
// certificate, which is then no error; a CRL block that does not parse is.
func decodeWithCRLs(p *parsed, data []byte, password string) ([]*x509.Certificate, []string, error) {
	crls, found, crlErr := certs.DecodeCRLs(data)
	if len(crls) > 0 {
		p.edit().crls = crls
	}
	var (
		xs      []*x509.Certificate
		aliases []string
		err     error
	)
	// A DER CRL is nothing else; PEM may hold certificates beside its CRL blocks.
	if !found || certs.IsPEM(data) {
		xs, aliases, err = certs.DecodeAliases(data, password)
	}
	if found && errors.Is(err, certs.ErrNoCertificate) {
		err = nil
	}
	return xs, aliases, errors.Join(err, crlErr)
}

// crlFile is the CRLs of one file.
type crlFile struct {
	path string
	crls []certs.CRLInfo
}

var (
	crlLabels     = []string{"path", "index", "issuer"}
	crlThisUpdate = prometheus.NewDesc("cert_crl_this_update_timestamp_seconds",
		"A stored CRL's thisUpdate (when it was published) as a Unix timestamp.", crlLabels, nil)
	crlNextUpdate = prometheus.NewDesc("cert_crl_next_update_timestamp_seconds",
		"A stored CRL's nextUpdate (by when its issuer publishes the next one) as a Unix timestamp; absent when it has none.", crlLabels, nil)
)

// snapshotMetrics emits the file error series and the CRL families of the files found (two
// series per CRL, by its file and position there (index), so that a republished CRL keeps its
// series); nil when there are none.
func snapshotMetrics(errs []FileError, files []crlFile) func(chan<- prometheus.Metric) {
	errMetrics := ErrorMetrics(errs)
	if len(files) == 0 {
		return errMetrics
	}
	return func(ch chan<- prometheus.Metric) {
		if errMetrics != nil {
			errMetrics(ch)
		}
		for _, f := range files {
			for i, c := range f.crls {
				lv := []string{f.path, strconv.Itoa(i), collector.Bounded(c.Issuer)}
				ch <- prometheus.MustNewConstMetric(crlThisUpdate, prometheus.GaugeValue, collector.Unix(c.ThisUpdate), lv...)
				if !c.NextUpdate.IsZero() {
					ch <- prometheus.MustNewConstMetric(crlNextUpdate, prometheus.GaugeValue, collector.Unix(c.NextUpdate), lv...)
				}
			}
		}
	}
}
