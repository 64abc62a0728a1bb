package certs

import (
	"bytes"
	"crypto/x509"
	"errors"
	"slices"
	"time"
)

// Verification outcomes, the `reason` label of cert_chain_verified.
const (
	ReasonOK                  = "ok"
	ReasonExpired             = "expired"
	ReasonNotYetValid         = "not_yet_valid"
	ReasonUnknownAuthority    = "unknown_authority"
	ReasonHostnameMismatch    = "hostname_mismatch"
	ReasonIncompleteChain     = "incomplete_chain"
	ReasonWrongOrder          = "wrong_order"
	ReasonExpiredIntermediate = "expired_intermediate"
	ReasonRevoked             = "revoked"
	ReasonNoCertificate       = "no_certificate"
	ReasonOther               = "other"
)

// VerifyOptions say what to verify against.
type VerifyOptions struct {
	Roots   *x509.CertPool // nil: the system roots
	DNSName string         // empty: no hostname check (files)
	Now     time.Time
}

// VerifyResult is the outcome of checking one served or stored chain.
type VerifyResult struct {
	Reason string `json:"reason"`
	Error  string `json:"error,omitempty"`
	// ChainExpiry is the earliest NotAfter along the best verified chain, or along the given
	// certificates when none verifies.
	ChainExpiry time.Time `json:"chain_expiry"`
	// Public: the chain verified against the system roots (no ca_file replaced them), so its CA
	// is held to the WebPKI's rules (ballot SC-081's maximum validity). A private CA added to the
	// host's trust store counts as public; giving its entry a ca_file makes it private.
	Public bool `json:"public,omitempty"`
}

// OK reports whether the chain verified.
func (r VerifyResult) OK() bool { return r.Reason == ReasonOK }

// Verify checks chain[0] as the leaf with chain[1:] as intermediates.
func Verify(chain []*x509.Certificate, o VerifyOptions) VerifyResult {
	r, _ := VerifyPath(chain, o)
	return r
}

// VerifyPath is Verify that also returns the verified path ChainExpiry was taken from (nil when
// none verified). The path is not in the VerifyResult: results live in snapshots (one per file
// of a tree), and the path's parsed certificates cost kilobytes each.
func VerifyPath(chain []*x509.Certificate, o VerifyOptions) (VerifyResult, []*x509.Certificate) {
	if len(chain) == 0 {
		return VerifyResult{Reason: ReasonNoCertificate, Error: "no certificate"}, nil
	}
	leaf := chain[0]
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots:         o.Roots,
		Intermediates: inter,
		DNSName:       o.DNSName,
		CurrentTime:   o.Now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		// The same message for every file of one untrusted CA: held once.
		return VerifyResult{Reason: classify(err, chain, o.Now), Error: intern(err.Error()), ChainExpiry: earliest(chain)}, nil
	}
	// Several paths can verify (cross-signs); clients pick a working one, so judge the chain by
	// the path that lives longest, and a stale cross-signed root sent along raises no alarm.
	best := chains[0]
	for _, c := range chains[1:] {
		if earliest(c).After(earliest(best)) {
			best = c
		}
	}
	r := VerifyResult{Reason: ReasonOK, ChainExpiry: earliest(best), Public: o.Roots == nil}
	if !onPath(chain, chains) && !inOrder(chain) {
		r.Reason, r.Error = ReasonWrongOrder, "certificates are not in issuing order (leaf, then each issuer)"
	}
	return r, best
}

func earliest(chain []*x509.Certificate) time.Time {
	var t time.Time
	for _, c := range chain {
		if t.IsZero() || c.NotAfter.Before(t) {
			t = c.NotAfter
		}
	}
	return t
}

// onPath: the presented certificates are, in order, the start of a path that verified, so each
// is issued by the next without checking the signatures again (a probe's most costly step after
// the handshake; the usual case, leaf and intermediates with or without the root).
func onPath(chain []*x509.Certificate, verified [][]*x509.Certificate) bool {
	for _, v := range verified {
		if len(chain) <= len(v) && slices.EqualFunc(chain, v[:len(chain)], (*x509.Certificate).Equal) {
			return true
		}
	}
	return false
}

// inOrder: each certificate is issued by the next one, for as long as the next is an issuer at
// all (extra unrelated certificates at the end are tolerated by clients, misordering is not).
func inOrder(chain []*x509.Certificate) bool {
	for i := 0; i+1 < len(chain); i++ {
		if chain[i].CheckSignatureFrom(chain[i+1]) != nil {
			// The rest must then not contain this certificate's issuer at all.
			for _, c := range chain[i+2:] {
				if chain[i].CheckSignatureFrom(c) == nil {
					return false
				}
			}
			return true
		}
	}
	return true
}

func classify(err error, chain []*x509.Certificate, now time.Time) string {
	leaf := chain[0]
	var (
		inv  x509.CertificateInvalidError
		host x509.HostnameError
		ua   x509.UnknownAuthorityError
	)
	switch {
	case errors.As(err, &inv) && inv.Reason == x509.Expired:
		switch {
		case now.After(leaf.NotAfter):
			return ReasonExpired
		case now.Before(leaf.NotBefore):
			return ReasonNotYetValid
		default:
			return ReasonExpiredIntermediate
		}
	case errors.As(err, &host):
		return ReasonHostnameMismatch
	case errors.As(err, &ua):
		return unknownIssuer(chain, now)
	}
	return ReasonOther
}

// unknownIssuer classifies a chain whose issuer is missing. It follows the issuers from the leaf
// through the presented certificates to the last one on that path (extra unrelated
// certificates, such as a stale intermediate left in a hand-made bundle, are not on it):
//   - a CA (an intermediate whose issuer is unknown, or a root nobody trusts): an expired
//     intermediate when one on that path expired, else an unknown authority (a private CA without
//     ca_file, a staging CA);
//   - a self-signed leaf: an unknown authority;
//   - a leaf whose issuer was not presented (CheckSignatureFrom never takes a non-CA as issuer):
//     when it names where to fetch its issuer (AIA caIssuers, set by every public CA), that
//     intermediate exists and was left out: incomplete_chain. A leaf naming no issuer URL looks
//     just like the leaf of a private CA kept alone in its file, normal for an internal CA that
//     issues from its root and is not configured as ca_file: unknown_authority, which a file
//     does not page for, rather than a broken file that pages.
func unknownIssuer(chain []*x509.Certificate, now time.Time) string {
	path := []*x509.Certificate{chain[0]} // from the leaf up, through the presented issuers
	for top := chain[0]; len(path) < len(chain) && !selfSigned(top); {
		i := slices.IndexFunc(chain[1:], func(c *x509.Certificate) bool { return c != top && top.CheckSignatureFrom(c) == nil })
		if i < 0 {
			break
		}
		top = chain[1+i]
		path = append(path, top)
	}
	top := path[len(path)-1]
	if !top.IsCA {
		if len(top.IssuingCertificateURL) > 0 && !selfSigned(top) {
			return ReasonIncompleteChain
		}
		return ReasonUnknownAuthority
	}
	for _, c := range path[1:] {
		if c.NotAfter.Before(now) {
			return ReasonExpiredIntermediate
		}
	}
	return ReasonUnknownAuthority
}

// selfSigned: issued by itself, whether or not it is marked as a CA (CheckSignatureFrom would
// refuse a non-CA issuer).
func selfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// NextBound is the first NotBefore or NotAfter after now among the certificates (zero when
// there is none): the verdict of a chain check (Verify) cannot change before then.
func NextBound(now time.Time, lists ...[]*x509.Certificate) time.Time {
	var t time.Time
	for _, l := range lists {
		for _, c := range l {
			for _, b := range []time.Time{c.NotBefore, c.NotAfter.Add(time.Nanosecond)} {
				if b.After(now) && (t.IsZero() || b.Before(t)) {
					t = b
				}
			}
		}
	}
	return t
}
