// Package probe connects to TLS endpoints and reports what each address served: the chain,
// its verification, revocation, TLS version and cipher. It has no Prometheus dependency; the
// background scheduler (targets) and /probe both call Run.
package probe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/tlsfiles"
)

// Failure reasons, the `reason` label of cert_probe_failure and probe_failure.
const (
	failDNS       = "dns"
	failConnect   = "connect"
	failTimeout   = "timeout"
	failStartTLS  = "starttls"
	failHandshake = "handshake"
	failRefused   = "refused_by_allowlist"
)

// FailureReasons lists every reason, for pre-created error counters.
var FailureReasons = []string{failDNS, failConnect, failTimeout, failStartTLS, failHandshake, failRefused}

// Problems are bounds hit or checks that could not be made; they do not fail a probe but are
// counted as error reasons of the targets source.
const (
	problemTooManyAddrs = "too_many_addresses"
	problemChainTooLong = "chain_too_long"
	problemCRLTooLarge  = "crl_too_large"
	problemCRLFetch     = "crl_fetch"
	problemCRLInvalid   = "crl_invalid"
)

// ProblemReasons lists every problem, for pre-created error counters.
var ProblemReasons = []string{problemTooManyAddrs, problemChainTooLong, problemCRLTooLarge, problemCRLFetch, problemCRLInvalid}

// Bounds on one probe, so that what one target yields (connections, series) stays bounded
// whatever its DNS and its servers send.
const (
	// maxAddrs is how many addresses of one name are probed (the first, in address order).
	maxAddrs = 16
	// maxChainCerts is how many served certificates are kept and checked per address (real
	// chains have 2–4; Go's client alone would accept a 64 KiB certificate message of them).
	maxChainCerts  = 16
	addrParallel   = 8
	defaultTimeout = 10 * time.Second
)

// verified is shared by every probe of the process: background targets and /probe requests
// mostly meet the same few chains again.
var verified certs.VerifyCache

// Resolver looks names up; *net.Resolver satisfies it, tests map names to loopback addresses.
type Resolver interface {
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
}

// Options are what a probe needs beyond the module.
type Options struct {
	// ServerName overrides the module's server_name (a target's own server_name).
	ServerName string
	Resolver   Resolver         // nil: net.DefaultResolver
	Now        func() time.Time // nil: time.Now
	Allow      *AllowList       // nil: everything allowed
	CRLs       *CRLCache        // nil: no CRL fetches (stapled OCSP is still read)
	// Debug keeps the log lines of Result.Log (/probe?debug=true); without it no line is
	// formatted, which is a measurable share of a probe's CPU.
	Debug bool
}

// Result is one probe of a target: every address it resolved to.
type Result struct {
	Target string `json:"target"`
	// Failure is set when no address could even be tried: dns or refused_by_allowlist.
	Failure  string        `json:"failure,omitempty"`
	Error    string        `json:"error,omitempty"`
	Duration time.Duration `json:"duration"`
	Addrs    []Addr        `json:"addresses"`
	// Problems at the target level: too_many_addresses.
	Problems []string `json:"problems,omitempty"`
	Log      []string `json:"-"`
}

// Success is true when at least one address was probed and every address succeeded, so one
// stale or dead load-balancer member fails the target.
func (r *Result) Success() bool {
	if r.Failure != "" || len(r.Addrs) == 0 {
		return false
	}
	for i := range r.Addrs {
		if !r.Addrs[i].Success {
			return false
		}
	}
	return true
}

// Failures returns the distinct failure reasons, target level first.
func (r *Result) Failures() []string {
	var out []string
	if r.Failure != "" {
		out = append(out, r.Failure)
	}
	for i := range r.Addrs {
		if f := r.Addrs[i].Failure; f != "" && !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// AllProblems returns the distinct problems of the target and its addresses, target first.
func (r *Result) AllProblems() []string {
	out := slices.Clone(r.Problems)
	for i := range r.Addrs {
		for _, p := range r.Addrs[i].Problems {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	return out
}

// Chains returns the chains served by the addresses that served one.
func (r *Result) Chains() []certs.Chain {
	var out []certs.Chain
	for i := range r.Addrs {
		if len(r.Addrs[i].Chain.Certs) > 0 {
			out = append(out, r.Addrs[i].Chain)
		}
	}
	return out
}

// Addr is the outcome for one address. Chain holds what was served even when the handshake
// failed after the certificate message or verification failed.
type Addr struct {
	IP         string        `json:"ip"` // empty when a proxy resolved the name
	Success    bool          `json:"success"`
	Failure    string        `json:"failure,omitempty"`
	Error      string        `json:"error,omitempty"`
	Duration   time.Duration `json:"duration"`
	TLSVersion string        `json:"tls_version,omitempty"`
	Cipher     string        `json:"cipher,omitempty"`
	Chain      certs.Chain   `json:"chain"`
	// Problems of this address: chain_too_long, crl_too_large, crl_fetch, crl_invalid.
	Problems []string `json:"problems,omitempty"`
}

// prober holds what is shared by the addresses of one Run.
type prober struct {
	m        config.Module
	o        Options
	now      func() time.Time
	log      *debugLog
	target   string
	host     string
	port     string
	sni      string
	verifyDN string
	roots    *x509.CertPool
	clientCt []tls.Certificate
	proxy    *url.URL
	minVer   uint16
	maxVer   uint16
}

// Run probes target ("host:port"; the port defaults to the protocol's) with module m. It
// returns when every address is done or the deadline (ctx's, capped by m.Timeout) is reached.
func Run(ctx context.Context, target string, m config.Module, o Options) Result {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	timeout := time.Duration(m.Timeout)
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	p := &prober{m: m, o: o, now: o.Now, target: target, log: &debugLog{on: o.Debug, now: o.Now, start: o.Now()}}
	res := p.run(ctx)
	res.Target = target
	res.Duration = p.now().Sub(p.log.start)
	if res.Failure != "" {
		p.log.add("probe failed: %s: %s", res.Failure, res.Error)
	}
	p.log.add("probe done in %s, success %t", res.Duration, res.Success())
	res.Log = p.log.lines()
	return res
}

func (p *prober) run(ctx context.Context) Result {
	host, port, err := config.ParseTarget(p.target, p.m.StartTLS)
	if err != nil {
		return Result{Failure: failDNS, Error: err.Error()}
	}
	p.host, p.port = host, port
	p.sni = firstNonEmpty(p.o.ServerName, p.m.TLSConfig.ServerName, host)
	if !p.m.TLSConfig.InsecureSkipVerify {
		p.verifyDN = p.sni
	}
	p.log.add("probing %s (module starttls=%q, server name %q, timeout %s)", p.target, p.m.StartTLS, p.sni, time.Duration(p.m.Timeout))
	if !p.o.Allow.AllowHost(host) {
		return Result{Failure: failRefused, Error: fmt.Sprintf("target host %q is not in probe.allowed_targets", host)}
	}
	if err := p.loadTLS(); err != nil {
		return Result{Failure: failHandshake, Error: err.Error()}
	}
	if p.m.ProxyURL != nil {
		p.proxy = p.m.ProxyURL.URL
	}

	var ips []string
	if p.proxy != nil {
		// The proxy resolves the name (the exporter may have no DNS for it), so there is one
		// address and its IP is unknown: it can only be allowed by name.
		if ip, err := netip.ParseAddr(host); err == nil {
			ips = []string{ip.String()}
		} else if p.o.Allow.HasNets() {
			return Result{Failure: failRefused, Error: "probe.allowed_targets has CIDRs, which cannot be checked for a name resolved by proxy_url"}
		} else {
			ips = []string{""}
		}
	} else {
		ips, err = p.resolve(ctx, host)
		if err != nil {
			return Result{Failure: failDNS, Error: err.Error()}
		}
	}

	res := Result{}
	if len(ips) > maxAddrs {
		p.log.add("%s: probing only the first %d of %d addresses", problemTooManyAddrs, maxAddrs, len(ips))
		ips = ips[:maxAddrs]
		res.Problems = []string{problemTooManyAddrs}
	}
	res.Addrs = make([]Addr, len(ips))
	var wg sync.WaitGroup
	sem := make(chan struct{}, addrParallel)
	refused := 0
	for i, ip := range ips {
		if a, err := netip.ParseAddr(ip); err == nil && !p.o.Allow.AllowIP(a) {
			refused++
			res.Addrs[i] = Addr{IP: ip, Failure: failRefused, Error: fmt.Sprintf("address %s is not in probe.allowed_targets", ip),
				Chain: certs.Chain{Location: p.location(ip)}}
			p.log.add("%s: refused: not in probe.allowed_targets", ip)
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			res.Addrs[i] = p.probeAddr(ctx, ip)
		}()
	}
	wg.Wait()
	if refused == len(ips) {
		res.Failure, res.Error = failRefused, res.Addrs[0].Error
	}
	return res
}

func (p *prober) location(ip string) certs.Location {
	return certs.Location{Source: certs.SourceProbe, Target: p.target, IP: ip}
}

// resolve returns the addresses to probe, deduplicated and sorted (IPv4 first) so that
// series and logs are stable across DNS answer rotations.
func (p *prober) resolve(ctx context.Context, host string) ([]string, error) {
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else {
		ias, err := p.o.Resolver.LookupIPAddr(ctx, host)
		if err != nil {
			return nil, fmt.Errorf("resolving %s: %w", host, err)
		}
		for _, ia := range ias {
			if a, ok := netip.AddrFromSlice(ia.IP); ok {
				addrs = append(addrs, a.Unmap().WithZone(ia.Zone))
			}
		}
	}
	var out []string
	slices.SortFunc(addrs, func(a, b netip.Addr) int { return a.Compare(b) })
	addrs = slices.Compact(addrs)
	for _, a := range addrs {
		switch {
		case p.m.IPProtocol == "ip4" && !a.Is4(), p.m.IPProtocol == "ip6" && !a.Is6():
			continue
		}
		out = append(out, a.String())
	}
	p.log.add("resolved %s to %s", host, strings.Join(out, ", "))
	if len(out) == 0 {
		return nil, fmt.Errorf("resolving %s: no %s address", host, firstNonEmpty(p.m.IPProtocol, "IP"))
	}
	return out, nil
}

// probeAddr connects to one address, runs STARTTLS and the handshake, and checks the chain.
func (p *prober) probeAddr(ctx context.Context, ip string) (a Addr) {
	start := p.now()
	a = Addr{IP: ip, Chain: certs.Chain{Location: p.location(ip)}}
	tag := firstNonEmpty(ip, p.host)
	defer func() {
		a.Duration = p.now().Sub(start)
		if a.Failure != "" {
			p.log.add("%s: failed (%s): %s", tag, a.Failure, a.Error)
		}
	}()
	fail := func(reason string, err error) Addr {
		if isTimeout(ctx, err) {
			reason = failTimeout
		}
		a.Failure, a.Error = reason, err.Error()
		return a
	}

	dest := net.JoinHostPort(firstNonEmpty(ip, p.host), p.port)
	var (
		raw net.Conn
		err error
	)
	if p.proxy != nil {
		p.log.add("%s: CONNECT %s via %s", tag, dest, p.proxy.Host)
		raw, err = dialProxy(ctx, p.proxy, dest)
	} else {
		p.log.add("%s: connecting to %s", tag, dest)
		var d net.Dialer
		raw, err = d.DialContext(ctx, "tcp", dest)
	}
	if err != nil {
		return fail(failConnect, err)
	}
	defer raw.Close()
	// The deadline bounds every read and write; cancellation (no deadline) unblocks them too.
	if dl, ok := ctx.Deadline(); ok {
		_ = raw.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var conn net.Conn = &limitConn{Conn: raw, left: maxHandshakeRead}
	if p.m.StartTLS != "" {
		p.log.add("%s: STARTTLS %s", tag, p.m.StartTLS)
		d := newDialog(conn, conn)
		if err := startTLS(d, p.m.StartTLS, p.sni); err != nil {
			return fail(failStartTLS, err)
		}
		conn = &bufConn{Conn: conn, r: d.r}
	}

	var served *tls.ConnectionState
	cfg := &tls.Config{
		ServerName: p.sni,
		// Verification is done below by certs.Verify so that an expired or untrusted chain is
		// still captured and reported with its reason, never a reason to stop looking.
		InsecureSkipVerify: true,
		MinVersion:         p.minVer,
		MaxVersion:         p.maxVer,
		Certificates:       p.clientCt,
		VerifyConnection: func(cs tls.ConnectionState) error {
			served = &cs
			return nil
		},
	}
	tc := tls.Client(conn, cfg)
	err = tc.HandshakeContext(ctx)
	if served != nil {
		p.fillChain(ctx, &a, served)
	}
	if err != nil {
		return fail(failHandshake, err)
	}
	cs := tc.ConnectionState()
	a.Success = true
	a.TLSVersion, a.Cipher = tls.VersionName(cs.Version), tls.CipherSuiteName(cs.CipherSuite)
	p.log.add("%s: %s %s, %d certificates, verify %s %s", tag, a.TLSVersion, a.Cipher, len(a.Chain.Certs), a.Chain.Verify.Reason, a.Chain.Verify.Error)
	return a
}

// fillChain records and checks the served certificates (the first MaxChainCerts of them).
func (p *prober) fillChain(ctx context.Context, a *Addr, cs *tls.ConnectionState) {
	now := p.now()
	peer := cs.PeerCertificates
	if len(peer) > maxChainCerts {
		p.log.add("%s: %s: keeping the first %d of %d certificates", firstNonEmpty(a.IP, p.host), problemChainTooLong, maxChainCerts, len(peer))
		peer = peer[:maxChainCerts]
		a.Problems = append(a.Problems, problemChainTooLong)
	}
	for _, c := range peer {
		a.Chain.Certs = append(a.Chain.Certs, certs.New(c))
	}
	var path []*x509.Certificate
	a.Chain.Verify, path = verified.VerifyPath(peer, certs.VerifyOptions{Roots: p.roots, DNSName: p.verifyDN, Now: now})
	if len(peer) == 0 {
		return
	}
	p.revocation(ctx, a, peer, path, cs.OCSPResponse)
	if a.Chain.Revocation != nil && a.Chain.Revocation.Revoked && a.Chain.Verify.OK() {
		a.Chain.Verify.Reason, a.Chain.Verify.Error = certs.ReasonRevoked, "the leaf certificate is revoked ("+a.Chain.Revocation.Method+")"
	}
}

// revocation reads the stapled OCSP response, else the CRL. verified is the path the chain
// verified along (nil when it did not). Missing OCSP or CRL pointers are normal and not errors;
// failures to check are problems of the address, never fatal to it.
func (p *prober) revocation(ctx context.Context, a *Addr, peer, verified []*x509.Certificate, staple []byte) {
	tag := firstNonEmpty(a.IP, p.host)
	leaf := peer[0]
	// The issuer of a verified path is trusted; otherwise the server chose it, and only a
	// staple (no network access) is read against it.
	var trusted, issuer *x509.Certificate
	if len(verified) > 1 {
		trusted, issuer = verified[1], verified[1]
	} else if len(peer) > 1 {
		issuer = peer[1]
	}
	if len(staple) > 0 {
		r, err := certs.ParseOCSPStaple(staple, leaf, issuer)
		if err == nil {
			p.log.add("%s: stapled OCSP: revoked %t (this update %s)", tag, r.Revoked, r.CheckedAt.UTC().Format(time.RFC3339))
			a.Chain.Revocation = r
			return
		}
		p.log.add("%s: ignoring stapled OCSP response: %v", tag, err)
	}
	if p.o.CRLs == nil || p.m.CheckRevocation != nil && !*p.m.CheckRevocation || len(leaf.CRLDistributionPoints) == 0 {
		return
	}
	if trusted == nil {
		// The certificate, its CRL URL included, may come from anyone: fetch nothing.
		p.log.add("%s: CRL not checked: the chain did not verify", tag)
		return
	}
	pol := fetchPolicy{allow: p.o.Allow, resolver: p.o.Resolver, proxy: p.proxy}
	var problems []string
	for _, u := range leaf.CRLDistributionPoints {
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			continue
		}
		crl, err := p.o.CRLs.get(ctx, u, trusted, pol)
		if err != nil {
			reason := crlProblem(err)
			p.log.add("%s: CRL %s: %s: %v", tag, u, reason, err)
			if !slices.Contains(problems, reason) {
				problems = append(problems, reason)
			}
			continue
		}
		a.Chain.Revocation = crl.Status(leaf)
		p.log.add("%s: CRL %s: revoked %t", tag, u, a.Chain.Revocation.Revoked)
		return
	}
	// Only when no distribution point gave an answer: a working second one is enough.
	a.Problems = append(a.Problems, problems...)
}

// loadTLS reads the module's tls_config: the roots the served chain is verified against
// (nil: the system's) and the client certificate.
func (p *prober) loadTLS() error {
	tc := &p.m.TLSConfig
	roots, pair, err := tlsfiles.Load(tc)
	if err != nil {
		return err
	}
	p.roots = roots
	if pair != nil {
		p.clientCt = []tls.Certificate{*pair}
	}
	p.minVer, p.maxVer = uint16(tc.MinVersion), uint16(tc.MaxVersion)
	return nil
}

func isTimeout(ctx context.Context, err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) ||
		errors.As(err, &ne) && ne.Timeout() || ctx.Err() != nil
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// debugLog collects the lines returned by /probe?debug=true.
type debugLog struct {
	on    bool
	now   func() time.Time
	start time.Time
	mu    sync.Mutex
	buf   []string
}

func (l *debugLog) add(format string, args ...any) {
	if !l.on {
		return
	}
	line := fmt.Sprintf("%8.3fs ", l.now().Sub(l.start).Seconds()) + fmt.Sprintf(format, args...)
	l.mu.Lock()
	l.buf = append(l.buf, line)
	l.mu.Unlock()
}

func (l *debugLog) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.buf)
}
