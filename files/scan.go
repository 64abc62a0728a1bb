package files

import (
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/health"
)

// fileKey identifies one version of one file: the path it was opened by, its inode, and what a
// rewrite changes (size, mtime, ctime).
type fileKey struct {
	path         string
	dev, ino     uint64
	size         int64
	mtime, ctime int64
}

// racyWindow: a file modified this recently may be rewritten again within the same timestamp
// tick with the same size, so its cache entry is not trusted by the next scan (as git does).
const racyWindow = 2 * time.Second

// parsed is the decoded content of one file version.
type parsed struct {
	x509s    []*x509.Certificate
	certs    []certs.Cert
	err      *FileError // decoding problem; certificates may still have been found
	password string     // what a PKCS#12 file was opened with
	racy     bool
	gen      uint64 // last scan that used it
	// The chain check, valid for roots until the clock passes until (zero: forever).
	verified  bool
	verifyRes certs.VerifyResult
	roots     *x509.CertPool
	until     time.Time
}

type keyEntry struct {
	pub crypto.PublicKey
	err *FileError
	gen uint64
}

// job is one matched file to load.
type job struct {
	match
	entry   int
	lineage string
}

type fileResult struct {
	chain *certs.Chain
	errs  []FileError
}

type lineageResult struct {
	chains []certs.Chain
	errs   []FileError
}

// scan does one full pass over every entry. It returns the snapshot, the directories to watch
// and whether a lineage was caught mid-renewal (so another look is due soon).
func (s *Source) scan(ctx context.Context) (*Snapshot, map[string]struct{}, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.gen++

	// Every lineage's links are read before the globs list the directories and again after the
	// files are read: a swap anywhere in between shows as a difference.
	before := s.lineageStates()
	x := newExpander()
	var (
		jobs     []job
		errs     []FileError
		errEntry []int // entry of each errs element, for the counters
		keyGlobs = make([][]match, len(s.entries))
	)
	addErr := func(e FileError, entry int) {
		errs = append(errs, e)
		errEntry = append(errEntry, entry)
	}
	seen := map[string]bool{}
	for i := range s.entries {
		e := &s.entries[i]
		for _, fe := range s.loadOptions(e, now) {
			addErr(fe, i)
		}
		for _, pattern := range e.Paths {
			n := len(x.errs)
			found := 0
			for _, m := range x.expand(pattern) {
				if e.excluded(m.path) {
					continue
				}
				found++
				if !seen[m.path] && !s.skipByName(m.path) {
					seen[m.path] = true
					jobs = append(jobs, job{match: m, entry: i, lineage: s.lineageOf(m.path)})
				}
			}
			for _, fe := range x.errs[n:] {
				addErr(fe, i)
			}
			if found == 0 && len(x.errs) == n {
				addErr(FileError{Path: pattern, Reason: ReasonNoMatch, Message: "no file matches"}, i)
			}
		}
		if e.CheckKey {
			for _, pattern := range e.KeyPaths {
				keyGlobs[i] = append(keyGlobs[i], x.expand(pattern)...)
			}
		}
	}

	results := s.loadAll(ctx, jobs, keyGlobs, now)

	for _, j := range jobs {
		if _, ok := before[j.lineage]; !ok && j.lineage != "" {
			before[j.lineage] = lineageState{missing: true} // appeared during this scan
		}
	}
	held := map[string]bool{}
	retry := false
	for l, b := range before {
		dir := filepath.Join(s.liveDir, l)
		if b.equal(readLineage(dir)) && b.consistent() && s.serialsAgree(dir, now) {
			delete(s.unsettled, l)
			continue
		}
		since, ok := s.unsettled[l]
		if !ok {
			since = now
			s.unsettled[l] = now
		}
		if now.Sub(since) < s.settle {
			held[l] = true
			retry = true
			s.logger.Debug("certbot lineage is being updated; keeping its previous state", "lineage", l)
		}
	}

	snap := &Snapshot{}
	byLine := map[string]lineageResult{}
	found := make([]bool, len(s.entries))
	for k, r := range results {
		j := jobs[k]
		if held[j.lineage] {
			found[j.entry] = true
			continue
		}
		if r.chain != nil {
			snap.Chains = append(snap.Chains, *r.chain)
			found[j.entry] = true
		}
		for _, fe := range r.errs {
			addErr(fe, j.entry)
		}
	}
	for l := range held {
		prev := s.lastByLine[l]
		snap.Chains = append(snap.Chains, prev.chains...)
		for _, fe := range prev.errs {
			addErr(fe, -1) // already counted when it first appeared
		}
	}
	snap.Errors, errEntry = dedupe(errs, errEntry)
	for _, c := range snap.Chains {
		if c.Lineage != "" {
			r := byLine[c.Lineage]
			r.chains = append(r.chains, c)
			byLine[c.Lineage] = r
		}
	}
	for _, fe := range snap.Errors {
		if l := s.lineageOf(fe.Path); l != "" {
			r := byLine[l]
			r.errs = append(r.errs, fe)
			byLine[l] = r
		}
	}
	s.lastByLine = byLine
	sort.Slice(snap.Chains, func(a, b int) bool { return snap.Chains[a].Path < snap.Chains[b].Path })
	snap.Status = s.account(snap, errEntry, found, now)
	s.evict()
	return snap, x.dirs, retry
}

// skipByName tells files that are private keys by the usual naming conventions (certbot's
// privkey.pem, cfssl's -key.pem, .key) and certbot's own transient links, so that a broad glob
// such as live/*/*.pem never opens a key.
func (s *Source) skipByName(path string) bool {
	base := strings.ToLower(filepath.Base(path))
	switch {
	case strings.HasSuffix(base, ".key"), strings.HasSuffix(base, ".key.pem"),
		strings.HasSuffix(base, "-key.pem"), strings.HasSuffix(base, "_key.pem"),
		strings.HasPrefix(base, "privkey"):
		return true
	case s.lineageOf(path) != "":
		return strings.HasPrefix(base, "previous_") || base == "readme"
	}
	return false
}

// lineageStates reads the links of every lineage in the live directory and of every lineage
// published last time (it may be gone now).
func (s *Source) lineageStates() map[string]lineageState {
	out := map[string]lineageState{}
	if s.liveDir == "" {
		return out
	}
	ents, _ := os.ReadDir(s.liveDir) // a missing or unreadable dir is reported by the globs
	for _, e := range ents {
		if e.IsDir() {
			out[e.Name()] = readLineage(filepath.Join(s.liveDir, e.Name()))
		}
	}
	for l := range s.lastByLine {
		if _, ok := out[l]; !ok {
			out[l] = readLineage(filepath.Join(s.liveDir, l))
		}
	}
	return out
}

// dedupe keeps one error per path and reason (a file can be reached by two entries' globs).
func dedupe(errs []FileError, entries []int) ([]FileError, []int) {
	idx := make([]int, len(errs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool {
		x, y := errs[idx[a]], errs[idx[b]]
		return x.Path < y.Path || x.Path == y.Path && x.Reason < y.Reason
	})
	var (
		out []FileError
		ent []int
	)
	for _, i := range idx {
		if n := len(out); n > 0 && out[n-1].Path == errs[i].Path && out[n-1].Reason == errs[i].Reason {
			continue
		}
		out = append(out, errs[i])
		ent = append(ent, entries[i])
	}
	return out, ent
}

// account logs and counts errors that appeared or changed since the last scan (once per state
// change, not per scan) and builds the health status of every entry.
func (s *Source) account(snap *Snapshot, errEntry []int, found []bool, now time.Time) []health.Status {
	current := make(map[errKey]string, len(snap.Errors))
	bad := make([]bool, len(s.entries))
	for i, fe := range snap.Errors {
		k := errKey{fe.Path, fe.Reason}
		current[k] = fe.Message
		if e := errEntry[i]; e >= 0 {
			bad[e] = true
		}
		if old, ok := s.failing[k]; ok && old == fe.Message {
			continue
		}
		s.logger.Warn("cannot use certificate file", "path", fe.Path, "reason", fe.Reason, "err", fe.Message)
		if e := errEntry[i]; e >= 0 {
			s.errCounts[e][fe.Reason]++
		}
	}
	for k := range s.failing {
		if _, ok := current[k]; !ok {
			s.logger.Info("certificate file problem resolved", "path", k.path, "reason", k.reason)
		}
	}
	s.failing = current
	out := make([]health.Status, len(s.entries))
	for i, e := range s.entries {
		up := found[i] || !bad[i]
		if up {
			s.lastOK[i] = now
		}
		counts := make(map[string]uint64, len(s.errCounts[i]))
		for r, n := range s.errCounts[i] {
			counts[r] = n
		}
		out[i] = health.Status{Source: HealthSource, Name: e.name, Up: up, LastSuccess: s.lastOK[i], Errors: counts}
	}
	return out
}

// evict forgets cached files that the last scan did not look at.
func (s *Source) evict() {
	for k, p := range s.cache {
		if p.gen != s.gen {
			delete(s.cache, k)
		}
	}
	for k, v := range s.keys {
		if v.gen != s.gen {
			delete(s.keys, k)
		}
	}
}

func (e *entry) excluded(path string) bool {
	for _, p := range e.Exclude {
		if MatchPath(p, path) {
			return true
		}
	}
	return false
}

// loadOptions reads the entry's CA file and password file (cheap, and picks up their changes).
func (s *Source) loadOptions(e *entry, now time.Time) []FileError {
	var errs []FileError
	e.password = string(e.Password)
	if e.PasswordFile != "" {
		data, err := os.ReadFile(e.PasswordFile)
		if err != nil {
			errs = append(errs, fileError(e.PasswordFile, err))
		}
		e.password = strings.TrimRight(string(data), "\r\n")
	}
	e.roots = nil
	if e.CAFile != "" {
		p, fe := s.load(e.CAFile, "", 16<<20, now)
		if fe != nil {
			errs = append(errs, *fe)
		}
		// A broken ca_file must not silently fall back to the system roots.
		e.roots = x509.NewCertPool()
		if p != nil {
			if p.err != nil {
				errs = append(errs, *p.err)
			}
			for _, c := range p.x509s {
				e.roots.AddCert(c)
			}
		}
	}
	return errs
}

// loadAll loads jobs in parallel; results are in job order.
func (s *Source) loadAll(ctx context.Context, jobs []job, keyGlobs [][]match, now time.Time) []fileResult {
	results := make([]fileResult, len(jobs))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(s.workers, max(1, len(jobs))); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				results[k] = s.loadJob(jobs[k], keyGlobs, now)
			}
		}()
	}
	for k := range jobs {
		if ctx.Err() != nil {
			break
		}
		next <- k
	}
	close(next)
	wg.Wait()
	return results
}

func (s *Source) loadJob(j job, keyGlobs [][]match, now time.Time) fileResult {
	e := &s.entries[j.entry]
	p, fe := s.load(j.path, e.password, e.MaxFileSize, now)
	if fe != nil {
		return fileResult{errs: []FileError{*fe}}
	}
	if p == nil { // a directory
		return fileResult{}
	}
	var r fileResult
	if p.err != nil {
		r.errs = append(r.errs, *p.err)
	}
	if len(p.certs) == 0 {
		return r
	}
	c := &certs.Chain{
		Location: certs.Location{Source: certs.SourceFile, Path: j.path, Lineage: j.lineage},
		Certs:    p.certs,
		Verify:   s.verify(p, e.roots, now),
	}
	if j.lineage != "" {
		c.DuplicateLineage = s.duplicate(j.lineage)
	}
	if e.CheckKey {
		match, fe := s.checkKey(j.path, keyGlobs[j.entry], p.x509s[0])
		c.KeyMatch = match
		if fe != nil {
			r.errs = append(r.errs, *fe)
		}
	}
	r.chain = c
	return r
}

// load returns the parsed content of path, from the cache when the file did not change. It
// returns nil, nil for a directory.
func (s *Source) load(path, password string, maxSize int64, now time.Time) (*parsed, *FileError) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if _, lerr := os.Lstat(path); lerr == nil {
				target, _ := os.Readlink(path)
				return nil, &FileError{Path: path, Reason: ReasonDanglingSymlink, Message: "symlink target " + target + " does not exist"}
			}
		}
		fe := fileError(path, err)
		return nil, &fe
	}
	if fi.IsDir() {
		return nil, nil
	}
	if !fi.Mode().IsRegular() {
		// Opening a FIFO or a device could block or read forever.
		return nil, &FileError{Path: path, Reason: ReasonIO, Message: "not a regular file (" + fi.Mode().Type().String() + ")"}
	}
	if fi.Size() > maxSize {
		return nil, &FileError{Path: path, Reason: ReasonTooLarge, Message: fmt.Sprintf("%d bytes, more than max_file_size %d", fi.Size(), maxSize)}
	}
	key := keyOf(path, fi)
	s.cacheMu.Lock()
	p, ok := s.cache[key]
	if ok && !p.racy && p.password == password {
		p.gen = s.gen
		s.cacheMu.Unlock()
		return p, nil
	}
	s.cacheMu.Unlock()

	data, err := readCapped(path, maxSize)
	if err != nil {
		fe := fileError(path, err)
		return nil, &fe
	}
	p = decode(path, data, password)
	p.racy = now.Sub(fi.ModTime()) < racyWindow
	p.gen = s.gen
	s.cacheMu.Lock()
	s.cache[key] = p
	s.cacheMu.Unlock()
	return p, nil
}

// decode parses file content; a decode problem is recorded next to whatever was found.
func decode(path string, data []byte, password string) *parsed {
	p := &parsed{password: password}
	xs, err := certs.Decode(data, password)
	for _, c := range xs {
		p.x509s = append(p.x509s, c)
		p.certs = append(p.certs, certs.New(c))
	}
	if errors.Is(err, certs.ErrKeyOnly) {
		return p // a key caught by a broad glob is not a certificate file, nor an error
	}
	if err != nil {
		reason := ReasonParse
		switch {
		case errors.Is(err, certs.ErrEmpty):
			reason = ReasonEmpty
		case errors.Is(err, certs.ErrPassword):
			reason = ReasonPassword
		}
		p.err = &FileError{Path: path, Reason: reason, Message: err.Error()}
	}
	return p
}

var errTooLarge = errors.New("file grew beyond max_file_size while being read")

// readCapped reads at most max bytes: a file can grow between stat and read.
func readCapped(path string, maxSize int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > maxSize {
		return nil, errTooLarge
	}
	return data, nil
}

// verify checks the chain, reusing the last result until a certificate's validity bound passes.
// A parsed value belongs to one path, hence to one job of a scan, so no lock is needed.
func (s *Source) verify(p *parsed, roots *x509.CertPool, now time.Time) certs.VerifyResult {
	if p.verified && p.roots == roots && (p.until.IsZero() || now.Before(p.until)) {
		return p.verifyRes
	}
	p.verifyRes = certs.Verify(p.x509s, certs.VerifyOptions{Roots: roots, Now: now})
	p.verified, p.roots, p.until = true, roots, nextBound(now, p.x509s, p.verifyRes.Chain)
	return p.verifyRes
}

// nextBound is the first NotBefore or NotAfter after now among the certificates: the verdict of
// a chain check cannot change before then.
func nextBound(now time.Time, lists ...[]*x509.Certificate) time.Time {
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

func fileError(path string, err error) FileError {
	reason := ReasonIO
	switch {
	case errors.Is(err, fs.ErrPermission):
		reason = ReasonPermission
	case errors.Is(err, fs.ErrNotExist):
		reason = ReasonNotFound
	case errors.Is(err, errTooLarge):
		reason = ReasonTooLarge
	}
	return FileError{Path: path, Reason: reason, Message: err.Error()}
}
