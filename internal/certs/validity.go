package certs

import (
	"strings"
	"time"
)

// day is the Baseline Requirements' day (6.3.2): 86,400 seconds, any amount more (fractional or
// leap seconds) counting as one more day, so comparing durations applies the rule exactly.
const day = 86400 * time.Second

// maxValidity is Baseline Requirements 6.3.2 as ballot SC-081 amended it: a Subscriber
// Certificate issued on or after from MUST NOT have a Validity Period greater than days. The
// dates are midnight UTC. Certificates issued before 2026-03-15 had 398 days (ballot SC-31,
// from 2020-09-01; anything older has long expired), newest step first.
var maxValidity = []struct {
	from time.Time
	days int
}{
	{time.Date(2029, time.March, 15, 0, 0, 0, 0, time.UTC), 47},
	{time.Date(2027, time.March, 15, 0, 0, 0, 0, time.UTC), 100},
	{time.Date(2026, time.March, 15, 0, 0, 0, 0, time.UTC), 200},
	{time.Time{}, 398},
}

// MaxValidity is the longest Validity Period ballot SC-081 allows a publicly-trusted TLS
// certificate issued at notBefore. The ballot counts from issuance; NotBefore is the closest a
// certificate tells of it (BR 7.1.2.7 lets a CA backdate it by up to 48 hours, which can only
// put a certificate under the older, longer limit, so a flagged one is never a false alarm).
func MaxValidity(notBefore time.Time) time.Duration {
	for _, s := range maxValidity {
		if !notBefore.Before(s.from) {
			return time.Duration(s.days) * day
		}
	}
	panic("unreachable: the last step starts at the zero time")
}

// Validity is the Validity Period as the Baseline Requirements count it: from notBefore through
// notAfter inclusive (RFC 5280 4.1.2.5), one second more than NotAfter − NotBefore since X.509
// times are whole seconds. A "90-day" certificate has NotAfter = NotBefore + 90 days − 1 s.
func (c Cert) Validity() time.Duration { return c.NotAfter.Sub(c.NotBefore) + time.Second }

// ValidityDays is Validity in the Baseline Requirements' days, a started day counting whole.
func (c Cert) ValidityDays() int { return int((c.Validity() + day - 1) / day) }

// ExceedsMaxValidity reports whether the validity is longer than ballot SC-081 allows at the
// certificate's NotBefore.
func (c Cert) ExceedsMaxValidity() bool { return c.Validity() > MaxValidity(c.NotBefore) }

// ClientAuth reports whether the certificate may authenticate a TLS client: its extended key
// usages include clientAuth or anyExtendedKeyUsage, or it has none (no restriction).
func (c Cert) ClientAuth() bool {
	for u := range strings.SplitSeq(c.EKU, ",") {
		if u == "client_auth" || u == "any" {
			return true
		}
	}
	return false
}
