// Package ari fetches ACME Renewal Information (RFC 9773): for each certificate whose issuing
// CA is known (certbot lineage server or a configured directory) the CA's suggested renewal
// window, obeying Retry-After, cached across passes and reloads.
package ari

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/health"
)

// Subject is one certificate to ask about and the directory of the CA that issued it.
type Subject struct {
	Cert      certs.Cert
	Lineage   string
	Directory string
	ID        string // CertID(Cert)
}

// Info is the latest window the CA suggested for one certificate.
type Info struct {
	Lineage   string `json:"lineage,omitempty"`
	Domain    string `json:"domain"`
	Serial    string `json:"serial"`
	Directory string `json:"directory"`
	Window
	FetchedAt time.Time `json:"fetched_at"`
}

// Snapshot is the immutable result of one pass.
type Snapshot struct {
	Windows []Info // sorted by lineage, domain, serial; one per certificate
	Status  []health.Status
	byCert  map[certKey]int
}

// certKey identifies a certificate the way its CA does: issuer key and serial.
type certKey struct{ aki, serial string }

func keyOf(c certs.Cert) certKey { return certKey{c.AuthorityKeyID, c.SerialDER} }

// Entry is a window and the certificate it is for.
type Entry struct {
	Cert certs.Cert
	Info Info
}

// NewSnapshot sorts the windows by lineage, domain and serial and indexes them by certificate.
// A certificate seen twice, or two certificates with the same labels (equal serials from two
// CAs), keep the first window: each series must stay unique.
func NewSnapshot(entries []Entry, status []health.Status) *Snapshot {
	entries = slices.Clone(entries)
	slices.SortStableFunc(entries, func(a, b Entry) int {
		return cmp.Or(cmp.Compare(a.Info.Lineage, b.Info.Lineage), cmp.Compare(a.Info.Domain, b.Info.Domain), cmp.Compare(a.Info.Serial, b.Info.Serial))
	})
	snap := &Snapshot{Status: status, byCert: make(map[certKey]int, len(entries))}
	for _, e := range entries {
		k := keyOf(e.Cert)
		if _, dup := snap.byCert[k]; dup {
			continue
		}
		if n := len(snap.Windows); n > 0 && sameLabels(snap.Windows[n-1], e.Info) {
			continue
		}
		snap.byCert[k] = len(snap.Windows)
		snap.Windows = append(snap.Windows, e.Info)
	}
	return snap
}

// Lookup returns the window of c, wherever c was seen (file or probe).
func (s *Snapshot) Lookup(c certs.Cert) (Info, bool) {
	if s == nil || c.AuthorityKeyID == "" {
		return Info{}, false
	}
	i, ok := s.byCert[keyOf(c)]
	if !ok {
		return Info{}, false
	}
	return s.Windows[i], true
}

// RenewalDue is when c should be renewed: the start of the CA's window when it gave one, else
// NotBefore + 2/3 of the lifetime. Metrics, alerts and the inventory page all use it.
func (s *Snapshot) RenewalDue(c certs.Cert) time.Time {
	if w, ok := s.Lookup(c); ok {
		return w.Start
	}
	return c.RenewalDue()
}

// Options tune a Source; zero values take the defaults.
type Options struct {
	HTTPClient *http.Client  // default: http.DefaultTransport with no client timeout
	Timeout    time.Duration // per request; default DefaultTimeout
	Interval   time.Duration // how often to look for due requests; default MinRetryAfter
}

// Source asks the CAs about the certificates that subjects returns.
type Source struct {
	subjects func() []Subject
	cache    *cache
	client   client
	interval time.Duration
	logger   *slog.Logger
	now      func() time.Time
	publish  func(*Snapshot)
}

// New returns a source. subjects is called on every pass (cheap: an in-memory join of the
// other sources' snapshots).
func New(subjects func() []Subject, opts Options, logger *slog.Logger, now func() time.Time, publish func(*Snapshot)) *Source {
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{}
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Interval <= 0 {
		opts.Interval = MinRetryAfter
	}
	return &Source{
		subjects: subjects,
		cache:    newCache(),
		client:   client{http: opts.HTTPClient, timeout: opts.Timeout, now: now},
		interval: opts.Interval,
		logger:   logger,
		now:      now,
		publish:  publish,
	}
}

// Run makes a pass at start and every interval until ctx ends. A new certificate is asked
// about within one interval of its file being published.
func (s *Source) Run(ctx context.Context) {
	// Publish at once: readiness must not wait on a remote CA.
	s.publish(NewSnapshot(nil, nil))
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		s.pass(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pass sends the requests that are due and publishes the windows of the current subjects.
func (s *Source) pass(ctx context.Context) {
	subs := s.subjects()
	byDir := map[string][]Subject{}
	for _, sub := range subs {
		byDir[sub.Directory] = append(byDir[sub.Directory], sub)
	}
	dirs := make([]string, 0, len(byDir))
	for d := range byDir {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		if ctx.Err() != nil {
			return
		}
		s.refreshDirectory(ctx, d, byDir[d])
	}
	s.cache.prune(subs)
	s.publish(s.cache.snapshot(subs, dirs))
}

func (s *Source) refreshDirectory(ctx context.Context, dir string, subs []Subject) {
	d := s.cache.dir(dir)
	if !d.next.After(s.now()) {
		body, retry, err := s.client.get(ctx, dir)
		var ri string
		if err == nil {
			if ri, err = ParseDirectory(dir, body); err != nil {
				reason := ReasonParse
				if errors.Is(err, errNoRenewalInfo) {
					reason = ReasonNoRenewalInfo
				}
				err = &fetchError{reason: reason, err: err}
			}
		}
		s.cache.directoryDone(dir, ri, retry, err, s.now())
		s.logResult("directory", dir, err)
		d = s.cache.dir(dir)
	}
	if d.renewalInfo == "" {
		return
	}
	for _, sub := range subs {
		if ctx.Err() != nil {
			return
		}
		if s.cache.cert(dir, sub.ID).next.After(s.now()) {
			continue
		}
		body, retry, err := s.client.get(ctx, d.renewalInfo+"/"+sub.ID)
		var w Window
		if err == nil {
			if w, err = ParseRenewalInfo(body); err != nil {
				err = &fetchError{reason: ReasonParse, err: err}
			}
		}
		s.cache.certDone(dir, sub.ID, w, retry, err, s.now())
		s.logResult("renewalInfo", sub.Cert.Domain, err)
	}
}

// logResult logs failures, which the health status also counts.
func (s *Source) logResult(what, name string, err error) {
	if err != nil {
		s.logger.Warn("ARI request failed; retrying later", "what", what, "name", name, "reason", reasonOf(err), "err", err)
	}
}

// cache remembers, per directory and per certificate, the last answer and when the next
// request is allowed. It is safe for concurrent use.
type cache struct {
	mu    sync.Mutex
	dirs  map[string]*dirState
	certs map[cacheKey]*certState
}

type cacheKey struct{ dir, id string }

type dirState struct {
	renewalInfo string
	next        time.Time
	failures    int
	lastSuccess time.Time
	errors      map[string]uint64
}

type certState struct {
	window    Window
	fetchedAt time.Time // zero until a window was received
	next      time.Time
	failures  int
}

// newCache returns an empty cache.
func newCache() *cache {
	return &cache{dirs: map[string]*dirState{}, certs: map[cacheKey]*certState{}}
}

// directoryTTL is how long a directory's renewalInfo URL is trusted.
const directoryTTL = 24 * time.Hour

// maxBackoff bounds the retry delay after failures without a Retry-After.
const maxBackoff = DefaultRetryAfter

// backoff is the delay after the n-th consecutive failure: 1 min, 2 min, 4 min… up to 6 h,
// unless the server said when to come back.
func backoff(n int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return retryAfter
	}
	d := MinRetryAfter
	for i := 1; i < n && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

func (c *cache) dir(dir string) dirState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return *c.dirLocked(dir)
}

func (c *cache) dirLocked(dir string) *dirState {
	d := c.dirs[dir]
	if d == nil {
		d = &dirState{errors: health.NewErrors(Reasons...)}
		c.dirs[dir] = d
	}
	return d
}

func (c *cache) cert(dir, id string) certState {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.certs[cacheKey{dir, id}]; st != nil {
		return *st
	}
	return certState{}
}

func (c *cache) directoryDone(dir, renewalInfo string, retry time.Duration, err error, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.dirLocked(dir)
	if err != nil {
		d.failures++
		d.next = now.Add(backoff(d.failures, retry))
		d.errors[reasonOf(err)]++
		return // a previously known renewalInfo URL stays in use
	}
	d.renewalInfo, d.failures, d.lastSuccess = renewalInfo, 0, now
	d.next = now.Add(directoryTTL)
}

func (c *cache) certDone(dir, id string, w Window, retry time.Duration, err error, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := c.dirLocked(dir)
	st := c.certs[cacheKey{dir, id}]
	if st == nil {
		st = &certState{}
		c.certs[cacheKey{dir, id}] = st
	}
	if err != nil {
		st.failures++
		st.next = now.Add(backoff(st.failures, retry))
		d.errors[reasonOf(err)]++
		return // the last window received stays valid until replaced
	}
	if retry == 0 {
		retry = DefaultRetryAfter
	}
	st.window, st.fetchedAt, st.failures, st.next = w, now, 0, now.Add(retry)
	d.lastSuccess = now
}

// prune forgets certificates no longer asked about, so memory follows the current inventory.
func (c *cache) prune(subs []Subject) {
	keep := make(map[cacheKey]struct{}, len(subs))
	dirs := map[string]struct{}{}
	for _, s := range subs {
		keep[cacheKey{s.Directory, s.ID}] = struct{}{}
		dirs[s.Directory] = struct{}{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.certs {
		if _, ok := keep[k]; !ok {
			delete(c.certs, k)
		}
	}
	for d := range c.dirs {
		if _, ok := dirs[d]; !ok {
			delete(c.dirs, d)
		}
	}
}

// snapshot renders the windows of subs and the health of each directory: up while the
// directory and every certificate's last request worked.
func (c *cache) snapshot(subs []Subject, dirs []string) *Snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	var entries []Entry
	failing := map[string]bool{}
	for _, s := range subs {
		st := c.certs[cacheKey{s.Directory, s.ID}]
		if st == nil {
			continue
		}
		if st.failures > 0 {
			failing[s.Directory] = true
		}
		if !st.fetchedAt.IsZero() {
			entries = append(entries, Entry{Cert: s.Cert, Info: Info{
				Lineage: s.Lineage, Domain: s.Cert.Domain, Serial: s.Cert.Serial, Directory: s.Directory,
				Window: st.window, FetchedAt: st.fetchedAt,
			}})
		}
	}
	var status []health.Status
	for _, dir := range dirs {
		d := c.dirLocked(dir)
		errs := make(map[string]uint64, len(d.errors))
		for r, n := range d.errors {
			errs[r] = n
		}
		status = append(status, health.Status{
			Source: "ari", Name: dir, Up: d.failures == 0 && d.renewalInfo != "" && !failing[dir],
			LastSuccess: d.lastSuccess, Errors: errs,
		})
	}
	return NewSnapshot(entries, status)
}

func sameLabels(a, b Info) bool {
	return a.Lineage == b.Lineage && a.Domain == b.Domain && a.Serial == b.Serial
}
