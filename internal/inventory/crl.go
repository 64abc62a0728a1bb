package inventory

import (
	"cmp"
	"slices"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
)

// CRLState is a stored CRL's verdict.
type CRLState string

// CRL states: stale is CertificateRevocationListStale's condition (crlStale), error a list or a
// file that could not be read (CertExpiryExporterFileError pages for the file).
const (
	CRLOK    CRLState = "ok"
	CRLStale CRLState = "stale"
	CRLError CRLState = "error"
)

// CRL is one stored certificate revocation list, or, in state error, a CRL file whose lists (some
// or all) could not be read. Its JSON field names are part of the documented contract
// (docs/certificates.md).
type CRL struct {
	State CRLState `json:"state"`
	Path  string   `json:"path"`
	// Index is the list's position among the file's lists (the series' index label); null on
	// an error row, which is about the file.
	Index *int `json:"index"`
	// Labels are the owner labels of the files: entry that found the file ({} when none).
	Labels     certs.Labels `json:"labels"`
	Issuer     string       `json:"issuer"`
	ThisUpdate *time.Time   `json:"this_update"`
	// NextUpdate is null for a list without one, which never turns stale (the alert has no
	// series to compare).
	NextUpdate *time.Time `json:"next_update"`
	// Entries is the number of revoked certificates the list names.
	Entries int `json:"entries"`
	// Problem says why the state is not ok, as the page and check print it ("" when ok).
	Problem string `json:"problem"`
	// Error is why the file's lists could not be read (error rows only).
	Error string `json:"error"`
}

// crlStale is CertificateRevocationListStale's expression, term for term:
//
//	next - time() < clamp_max((next - this) / 20, crl_stale_soon)
//
// less than 1/20 of the list's validity, at most th.CRLStaleSoon, is left before its nextUpdate,
// or the nextUpdate has passed. A list without nextUpdate has no cert_crl_next_update series,
// so the rule never fires for it.
func crlStale(c certs.CRLInfo, now time.Time, th Thresholds) bool {
	if c.NextUpdate.IsZero() {
		return false
	}
	return c.NextUpdate.Sub(now) < min(c.NextUpdate.Sub(c.ThisUpdate)/20, th.CRLStaleSoon)
}

// crlRows judges the CRL files of the snapshots at now: per file an error row first, when it
// has an error, then its lists in file order; files by path.
func crlRows(snaps []*source.Snapshot, now time.Time, th Thresholds) []CRL {
	out := []CRL{}
	for _, s := range snaps {
		for _, f := range s.CRLs {
			if f.Error != "" {
				out = append(out, CRL{State: CRLError, Path: f.Path, Labels: f.Labels, Problem: "cannot be read: " + f.Error, Error: f.Error})
			}
			for i, c := range f.CRLs {
				x := CRL{State: CRLOK, Path: f.Path, Index: &i, Labels: f.Labels, Issuer: c.Issuer,
					ThisUpdate: timePtr(c.ThisUpdate), NextUpdate: timePtr(c.NextUpdate), Entries: c.Entries}
				if crlStale(c, now, th) {
					x.State = CRLStale
					if left := c.NextUpdate.Sub(now); left > 0 {
						x.Problem = "stale: nextUpdate in " + TimeLeft(int64(left/time.Second)) + ", not replaced yet"
					} else {
						x.Problem = "stale: nextUpdate passed " + TimeLeft(int64(-left/time.Second)) + " ago"
					}
				}
				out = append(out, x)
			}
		}
	}
	// Stable: a file's error row stays before its lists.
	slices.SortStableFunc(out, func(a, b CRL) int { return cmp.Compare(a.Path, b.Path) })
	return out
}

// CRLProblems are the CRL rows that are not ok, for check.
func (r *Report) CRLProblems() []CRL {
	var out []CRL
	for _, c := range r.CRLs {
		if c.State != CRLOK {
			out = append(out, c)
		}
	}
	return out
}
