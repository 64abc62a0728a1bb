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
	"net/url"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
)

// subject is one certificate to ask about and the directory of the CA that issued it.
type subject struct {
	Cert      certs.Cert
	Lineage   string
	Directory string
	ID        string // CertID(Cert)
}

// snapshot is the immutable result of one pass: the windows sorted by lineage, domain and
// serial, one per certificate, and the health of each directory.
type snapshot struct {
	windows []source.Window
	status  []source.Status
	byCert  map[certs.Key]int
	cache   *cache // the source's, for the one that replaces it on a reload
}

// newSnapshot sorts the windows by lineage, domain and serial and indexes them by certificate.
// A certificate seen twice, or two certificates with the same labels (equal serials from two
// CAs), keep the first window: each series must stay unique.
func newSnapshot(windows []source.Window, status []source.Status) *snapshot {
	windows = slices.Clone(windows)
	slices.SortStableFunc(windows, func(a, b source.Window) int {
		return cmp.Or(cmp.Compare(a.Lineage, b.Lineage), cmp.Compare(a.Domain, b.Domain), cmp.Compare(a.Serial, b.Serial))
	})
	snap := &snapshot{status: status, byCert: make(map[certs.Key]int, len(windows))}
	for _, w := range windows {
		if _, dup := snap.byCert[w.Cert]; dup {
			continue
		}
		if n := len(snap.windows); n > 0 && sameLabels(snap.windows[n-1], w) {
			continue
		}
		snap.byCert[w.Cert] = len(snap.windows)
		snap.windows = append(snap.windows, w)
	}
	return snap
}

// lookup returns the window of c.
func (s *snapshot) lookup(c certs.Cert) (source.Window, bool) {
	i, ok := s.byCert[c.Key()]
	if !ok {
		return source.Window{}, false
	}
	return s.windows[i], true
}

// source is the snapshot as every source publishes it (the collector renders its windows).
func (s *snapshot) source() *source.Snapshot {
	return &source.Snapshot{Windows: s.windows, Status: s.status, State: s}
}

// options tune a Source; zero values take the defaults.
type options struct {
	HTTPClient *http.Client  // default: http.DefaultTransport with no client timeout
	Timeout    time.Duration // per request; default DefaultTimeout
	Interval   time.Duration // how often to look for due requests; default MinRetryAfter
}

// Source asks the CAs about the certificates that subjects returns.
type Source struct {
	subjects func() []subject
	cache    *cache
	client   client
	interval time.Duration
	logger   *slog.Logger
	clock    clockwork.Clock
	now      func() time.Time
	started  bool // carried over from a replaced source: no empty first publish
}

// newSource returns a source. subjects is called on every pass (cheap: an in-memory join of the
// other sources' snapshots).
func newSource(subjects func() []subject, opts options, logger *slog.Logger, clock clockwork.Clock) *Source {
	now := clock.Now
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{}
	}
	if opts.Timeout <= 0 {
		opts.Timeout = defaultTimeout
	}
	if opts.Interval <= 0 {
		opts.Interval = minRetryAfter
	}
	return &Source{
		subjects: subjects,
		cache:    newCache(),
		client:   client{http: opts.HTTPClient, timeout: opts.Timeout, now: now},
		interval: opts.Interval,
		logger:   logger,
		clock:    clock,
		now:      now,
	}
}

// carry makes s continue the source that published prev (a reload): its cache of answers
// and Retry-After times, and its windows stay visible until s's first pass.
func (s *Source) carry(prev *snapshot) {
	s.cache, s.started = prev.cache, true
}

// Run makes a pass at start and every interval until ctx ends. A new certificate is asked
// about within one interval of its file being published.
func (s *Source) Run(ctx context.Context, publish func(*source.Snapshot)) {
	if !s.started {
		// Publish at once: readiness must not wait on a remote CA.
		publish(newSnapshot(nil, nil).source())
	}
	t := s.clock.NewTicker(s.interval)
	defer t.Stop()
	for {
		if snap := s.pass(ctx); ctx.Err() == nil {
			publish(snap.source())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.Chan():
		}
	}
}

// Once makes one pass: the windows of the current subjects.
func (s *Source) Once(ctx context.Context) *source.Snapshot { return s.pass(ctx).source() }

// pass sends the requests that are due and returns the windows of the current subjects.
func (s *Source) pass(ctx context.Context) *snapshot {
	subs := s.subjects()
	byDir := map[string][]subject{}
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
			break
		}
		s.refreshDirectory(ctx, d, byDir[d])
	}
	s.cache.prune(subs)
	return s.cache.snapshot(subs, dirs)
}

func (s *Source) refreshDirectory(ctx context.Context, dir string, subs []subject) {
	d := s.cache.dir(dir)
	if !d.next.After(s.now()) {
		body, retry, err := s.client.get(ctx, dir)
		var ri string
		if err == nil {
			if ri, err = parseDirectory(dir, body); err != nil {
				reason := reasonParse
				if errors.Is(err, errNoRenewalInfo) {
					reason = reasonNoRenewalInfo
				}
				err = &fetchError{reason: reason, err: err}
			}
		}
		s.cache.directoryDone(dir, ri, retry, err, s.now())
		s.logResult("directory", redact(dir), err)
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
		var w suggested
		if err == nil {
			if w, err = parseRenewalInfo(body); err != nil {
				err = &fetchError{reason: reasonParse, err: err}
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
	lastErr     string // the latest failure, directory's or a certificate's
}

type certState struct {
	window    suggested
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
const maxBackoff = defaultRetryAfter

// backoff is the delay after the n-th consecutive failure: 1 min, 2 min, 4 min… up to 6 h,
// unless the server said when to come back.
func backoff(n int, retryAfter time.Duration) time.Duration {
	if retryAfter > 0 {
		return retryAfter
	}
	d := minRetryAfter
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
		d = &dirState{errors: source.NewErrors(Reasons...)}
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
		d.lastErr = err.Error()
		return // a previously known renewalInfo URL stays in use
	}
	d.renewalInfo, d.failures, d.lastSuccess = renewalInfo, 0, now
	d.next = now.Add(directoryTTL)
}

func (c *cache) certDone(dir, id string, w suggested, retry time.Duration, err error, now time.Time) {
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
		d.lastErr = err.Error()
		return // the last window received stays valid until replaced
	}
	if retry == 0 {
		retry = defaultRetryAfter
	}
	st.window, st.fetchedAt, st.failures, st.next = w, now, 0, now.Add(retry)
	d.lastSuccess = now
}

// prune forgets certificates no longer asked about, so memory follows the current inventory.
func (c *cache) prune(subs []subject) {
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
func (c *cache) snapshot(subs []subject, dirs []string) *snapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	var windows []source.Window
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
			windows = append(windows, source.Window{
				Cert: s.Cert.Key(), Lineage: s.Lineage, Domain: s.Cert.Domain, Serial: s.Cert.Serial, Directory: redact(s.Directory),
				Start: st.window.Start, End: st.window.End, ExplanationURL: st.window.ExplanationURL, FetchedAt: st.fetchedAt,
			})
		}
	}
	var status []source.Status
	for _, dir := range dirs {
		d := c.dirLocked(dir)
		errs := make(map[string]uint64, len(d.errors))
		for r, n := range d.errors {
			errs[r] = n
		}
		st := source.Status{
			Source: "ari", Name: redact(dir), Up: d.failures == 0 && d.renewalInfo != "" && !failing[dir],
			LastSuccess: d.lastSuccess, Errors: errs,
		}
		if !st.Up {
			st.Error = cmp.Or(d.lastErr, "directory not fetched yet")
		}
		status = append(status, st)
	}
	snap := newSnapshot(windows, status)
	snap.cache = c
	return snap
}

func sameLabels(a, b source.Window) bool {
	return a.Lineage == b.Lineage && a.Domain == b.Domain && a.Serial == b.Serial
}

// redact hides credentials a directory URL may carry (userinfo, query tokens) wherever it is
// shown: the health series, logs, the inventory.
func redact(dir string) string {
	u, err := url.Parse(dir)
	if err != nil {
		return "<unparsable URL>"
	}
	return config.Redact(u)
}
