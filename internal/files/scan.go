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

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/fsread"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
)

// fileKey identifies one version of one file: the path it was opened by and its fileVersion.
type fileKey struct {
	path string
	fileVersion
}

// fileVersion is what a rewrite of a file changes: its inode, size, mtime and ctime.
type fileVersion struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64
}

// changed is when the file version last changed: the later of its mtime and ctime (a copy can
// keep an old mtime, never an old ctime).
func (v fileVersion) changed() time.Time { return time.Unix(0, max(v.mtime, v.ctime)) }

// racyWindow: a file modified this recently may be rewritten again within the same timestamp
// tick with the same size, so its cache entry is not trusted by the next scan (as git does).
// It compares file times with the wall clock, never with the injected one: both must come
// from the same clock, and only the kernel's is in the file times.
const racyWindow = 2 * time.Second

// parsed is the decoded content of one file version and the outcome of its checks. The parsed
// certificates are not kept (they cost kilobytes each, and a tree may hold 100k): the rare
// check that has to be redone re-reads the file. One is kept per file (the cache is keyed by
// path), so what only some files have is apart, in rare.
type parsed struct {
	ver   fileVersion
	certs []certs.Cert
	// gen is the last scan that used it; a uint32 (a scan a second wraps in 136 years) shares a
	// word with the two bools.
	gen  uint32
	racy bool
	// The chain check, valid for roots until the clock passes until (zero: forever).
	verified  bool
	verifyRes certs.VerifyResult
	roots     *x509.CertPool
	until     time.Time
	rare      *rare // nil for most files
}

// rare is what only some files have: 100k entries without it are 6 MB smaller.
type rare struct {
	err      *FileError      // decoding problem; certificates may still have been found
	password string          // what a PKCS#12 file or Java keystore was opened with
	key      *keyCheck       // nil until check_key looked at the file
	pool     *x509.CertPool  // the certificates, when the file is an entry's ca_file
	crls     []certs.CRLInfo // the file's CRLs (decodeWithCRLs)
	holdsCRL bool            // the file holds a CRL, parsed or not
	crlErr   string          // why some of its CRLs could not be parsed
	// A Java keystore's chains after its first (certs.Keystore.Chains: each private key entry
	// its own chain, then the trusted entries') and their chain checks; keyed is how many of
	// the certificates are in private key entries (a chain of those is named by its alias).
	starts    []int
	verifyRes []certs.VerifyResult
	keyed     int
	keystore  bool
}

// more returns the file's rare part, the zero value when it has none.
func (p *parsed) more() rare {
	if p.rare == nil {
		return rare{}
	}
	return *p.rare
}

// edit returns the file's rare part to set a field of.
func (p *parsed) edit() *rare {
	if p.rare == nil {
		p.rare = &rare{}
	}
	return p.rare
}

// noRoots trusts nothing: the roots of an entry whose ca_file cannot be read, which must not
// silently fall back to the system roots. Shared so that the chain checks stay cached.
var noRoots = x509.NewCertPool()

type keyEntry struct {
	pub crypto.PublicKey
	err *FileError
	gen uint32
}

// job is one matched file to load.
type job struct {
	match
	entry   int
	lineage string
}

// loaded is what the jobs found, in job order. The chains are written in place into one slice that
// becomes the snapshot's (a chain without certificates is none): at 100k files a chain
// allocated per file and copied into the snapshot was 33 MB of garbage at the heap's peak.
type loaded struct {
	chains []certs.Chain
	// more is a job's errors and CRLs, nil for the usual file that has neither (a slice of
	// each per job was 4.8 MB at 100k files).
	more []*jobMore
}

type jobMore struct {
	errs []FileError
	crl  *source.CRLFile // nil unless the file is a CRL file
	// chains are a Java keystore's chains after its first (which is the job's chain).
	chains []certs.Chain
}

type lineageResult struct {
	chains []certs.Chain
	errs   []FileError
}

// scan does one pass over every entry. It returns the snapshot and whether a lineage was caught
// mid-renewal (so another look is due soon). watch, when not nil, is given the directories the
// globs read before any file is: a change made while the files are read is then either seen or
// reported by the watcher (a watch added after reading would miss it until the periodic rescan).
//
// With changed nil, every file is looked at (a stat, and a read if it changed). Otherwise the
// watcher reported changes in the directories of changed only: the other files found last time
// are taken from the cache without a stat. The globs are still listed (new and deleted files
// show), and symlinks, files that failed, recently modified files and check_key entries are
// still looked at, since their changes may happen in directories that are not watched.
func (s *Source) scan(ctx context.Context, changed map[string]struct{}, watch func(dirs map[string]int)) (*source.Snapshot, bool) {
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
		x.entry = i
		for _, fe := range s.loadOptions(e) {
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
				addErr(FileError{Path: pattern, Reason: reasonNoMatch, Message: "no file matches"}, i)
			}
		}
		if e.CheckKey {
			for _, pattern := range e.KeyPaths {
				keyGlobs[i] = append(keyGlobs[i], x.expand(pattern)...)
			}
		}
	}

	if watch != nil {
		watch(x.dirs)
	}
	results := s.loadAll(ctx, jobs, keyGlobs, changed, now)

	for _, j := range jobs {
		if _, ok := before[j.lineage]; !ok && j.lineage != "" {
			before[j.lineage] = lineageState{missing: true} // appeared during this scan
		}
	}
	held := map[string]bool{}
	retry := false
	for l, b := range before {
		dir := filepath.Join(s.liveDir, l)
		if b.equal(readLineage(dir)) && b.consistent() && s.serialsAgree(dir) {
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

	byLine := map[string]lineageResult{}
	found := make([]bool, len(s.entries))
	kept := 0
	var (
		crls  []source.CRLFile
		extra []certs.Chain
	)
	for k, j := range jobs {
		if held[j.lineage] {
			found[j.entry] = true
			continue
		}
		if len(results.chains[k].Certs) > 0 {
			results.chains[kept] = results.chains[k]
			kept++
			found[j.entry] = true
		}
		m := results.more[k]
		if m == nil {
			continue
		}
		extra = append(extra, m.chains...)
		if m.crl != nil {
			crls = append(crls, *m.crl)
			if len(m.crl.CRLs) > 0 {
				found[j.entry] = true
			}
		}
		for _, fe := range m.errs {
			addErr(fe, j.entry)
		}
	}
	clear(results.chains[kept:])
	snap := &source.Snapshot{Chains: append(results.chains[:kept], extra...)}
	for l := range held {
		prev := s.lastByLine[l]
		snap.Chains = append(snap.Chains, prev.chains...)
		for _, fe := range prev.errs {
			addErr(fe, -1) // already counted when it first appeared
		}
	}
	errs, errEntry = dedupe(errs, errEntry)
	for _, c := range snap.Chains {
		if c.Lineage != "" {
			r := byLine[c.Lineage]
			r.chains = append(r.chains, c)
			byLine[c.Lineage] = r
		}
	}
	for _, fe := range errs {
		if l := s.lineageOf(fe.Path); l != "" {
			r := byLine[l]
			r.errs = append(r.errs, fe)
			byLine[l] = r
		}
	}
	s.lastByLine = byLine
	// A keystore's chains share its path; its private key entries' by alias, then the trusted
	// entries' (no key).
	sort.Slice(snap.Chains, func(a, b int) bool {
		x, y := &snap.Chains[a], &snap.Chains[b]
		return x.Path < y.Path || x.Path == y.Path && (x.Key != "" && y.Key == "" || x.Key != "" && x.Key < y.Key)
	})
	snap.Status = s.account(errs, errEntry, found, now)
	for _, fe := range errs {
		snap.Problems = append(snap.Problems, source.Problem{Source: certs.SourceFile, Where: fe.Path, Reason: fe.Reason, Message: fe.Message})
	}
	if len(s.unwatched) > 0 {
		snap.Problems = append(snap.Problems, s.unwatchedProblem())
	}
	sort.Slice(crls, func(a, b int) bool { return crls[a].Path < crls[b].Path })
	s.crlPaths = map[string]bool{}
	for _, f := range crls {
		s.crlPaths[f.Path] = true
	}
	snap.CRLs = crls
	snap.Metrics = snapshotMetrics(errs, crls)
	s.evict()
	return snap, retry
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
func (s *Source) account(errs []FileError, errEntry []int, found []bool, now time.Time) []source.Status {
	current := make(map[errKey]string, len(errs))
	bad := make([]string, len(s.entries)) // an entry's first error ("" for none)
	for i, fe := range errs {
		k := errKey{fe.Path, fe.Reason}
		current[k] = fe.Message
		if e := errEntry[i]; e >= 0 && bad[e] == "" {
			bad[e] = fe.Path + ": " + fe.Message
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
	out := make([]source.Status, len(s.entries))
	for i, e := range s.entries {
		up := found[i] || bad[i] == ""
		msg := ""
		if up {
			s.lastOK[i] = now
		} else {
			msg = bad[i]
		}
		counts := make(map[string]uint64, len(s.errCounts[i]))
		for r, n := range s.errCounts[i] {
			counts[r] = n
		}
		out[i] = source.Status{Source: healthSource, Name: e.name, Up: up, LastSuccess: s.lastOK[i], Errors: counts, Error: msg}
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
		if config.MatchGlob(p, path) {
			return true
		}
	}
	return false
}

// loadOptions reads the entry's CA file and password file (cheap, and picks up their changes).
func (s *Source) loadOptions(e *entry) []FileError {
	var errs []FileError
	e.password = string(e.Password)
	if e.PasswordFile != "" {
		data, err := fsread.ReadFile(e.PasswordFile, 64<<10)
		if err != nil {
			errs = append(errs, fileError(e.PasswordFile, err))
		}
		e.password = strings.TrimRight(string(data), "\r\n")
	}
	e.roots = nil
	if e.CAFile != "" {
		p, xs, fe := s.load(e.CAFile, "", 16<<20, false)
		if p != nil && p.more().pool == nil && xs == nil { // cached as a certificate file, without them
			p, xs, fe = s.load(e.CAFile, "", 16<<20, true)
		}
		if fe != nil {
			errs = append(errs, *fe)
		}
		e.roots = noRoots
		if p != nil {
			if err := p.more().err; err != nil {
				errs = append(errs, *err)
			}
			// Built once per version of the file: the chain checks are cached per pool.
			if p.more().pool == nil {
				pool := x509.NewCertPool()
				for _, c := range xs {
					pool.AddCert(c)
				}
				p.edit().pool = pool
			}
			e.roots = p.more().pool
		}
	}
	return errs
}

// loadAll loads jobs in parallel; results are in job order.
func (s *Source) loadAll(ctx context.Context, jobs []job, keyGlobs [][]match, changed map[string]struct{}, now time.Time) loaded {
	results := loaded{chains: make([]certs.Chain, len(jobs)), more: make([]*jobMore, len(jobs))}
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(s.workers, max(1, len(jobs))); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range next {
				if m := s.loadJob(&results.chains[k], jobs[k], keyGlobs, changed, now); m.errs != nil || m.crl != nil || m.chains != nil {
					results.more[k] = &m
				}
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

// loadJob fills c with the chain of j's file, if it holds certificates, and returns the errors,
// for a file that holds CRLs its CRLs, and a Java keystore's further chains. It reads
// s.crlPaths, which only scan writes, after the jobs.
func (s *Source) loadJob(c *certs.Chain, j job, keyGlobs [][]match, changed map[string]struct{}, now time.Time) jobMore {
	e := &s.entries[j.entry]
	var (
		p  *parsed
		xs []*x509.Certificate
		fe *FileError
	)
	if changed != nil && !j.symlink && !e.CheckKey {
		if _, ok := changed[filepath.Dir(j.path)]; !ok {
			p = s.cached(j.path, e.password)
		}
	}
	if p == nil {
		p, xs, fe = s.load(j.path, e.password, e.MaxFileSize, false)
	}
	// The key belongs to a leaf: a file that starts with a CA certificate (certbot's chain.pem,
	// a trust bundle) has no key to check.
	checkKey := e.CheckKey && fe == nil && p != nil && len(p.certs) > 0 && !p.certs[0].IsCA
	var key keyRef
	if checkKey {
		key = s.keyFor(j.path, keyGlobs[j.entry])
	}
	if fe == nil && p != nil && len(p.certs) > 0 && xs == nil && (!p.verifyFresh(e.roots, now) || checkKey && !p.keyFresh(key)) {
		// A check must be redone (a validity bound passed, the ca_file or the key changed).
		p, xs, fe = s.load(j.path, e.password, e.MaxFileSize, true)
		// Rewritten meanwhile: still a leaf? (If it became one, the next scan checks its key.)
		checkKey = checkKey && fe == nil && p != nil && len(p.certs) > 0 && !p.certs[0].IsCA
	}
	if fe != nil {
		var crl *source.CRLFile
		if s.crlPaths[j.path] {
			crl = &source.CRLFile{Path: j.path, Labels: e.labels, Error: fe.Message}
		}
		return jobMore{errs: []FileError{*fe}, crl: crl}
	}
	if p == nil { // a directory, or a file removed since the glob listed it
		return jobMore{}
	}
	var errs []FileError
	more := p.more()
	if more.err != nil {
		errs = append(errs, *more.err)
	}
	var crl *source.CRLFile
	if more.holdsCRL {
		crl = &source.CRLFile{Path: j.path, Labels: e.labels, CRLs: more.crls, Error: more.crlErr}
	}
	if len(p.certs) == 0 {
		return jobMore{errs: errs, crl: crl}
	}
	p.verify(xs, e.roots, now)
	var rest []certs.Chain
	for i, span := range p.chains() {
		ch := certs.Chain{
			Location: certs.Location{Source: certs.SourceFile, Path: j.path, Lineage: j.lineage, Key: span.key},
			Labels:   e.labels,
			Usage:    usage(e.Usage),
			Certs:    p.certs[span.start:span.end],
			Verify:   p.verifyResult(i),
			Changed:  p.ver.changed(),
		}
		if i == 0 {
			*c = ch
		} else {
			rest = append(rest, ch)
		}
	}
	if j.lineage != "" {
		c.DuplicateLineage = s.duplicate(j.lineage)
	}
	if checkKey {
		match, fe := p.checkKey(xs, key)
		c.KeyMatch = match
		if fe != nil {
			errs = append(errs, *fe)
		}
	}
	return jobMore{errs: errs, crl: crl, chains: rest}
}

// cached returns the cache entry of path without looking at the file, nil if there is none to
// trust. An entry is there only if the last scan used it (see evict).
func (s *Source) cached(path, password string) *parsed {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	p, ok := s.cache[path]
	if !ok || p.racy || p.more().password != password {
		return nil
	}
	p.gen = s.gen
	return p
}

// load returns the parsed content of path, from the cache when the file did not change, and the
// parsed certificates when the file was read (always with reread): the checks need them, the
// cache does not keep them. It returns nil, nil, nil for a directory or a file that is gone.
func (s *Source) load(path, password string, maxSize int64, reread bool) (*parsed, []*x509.Certificate, *FileError) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if _, lerr := os.Lstat(path); lerr == nil {
				target, _ := os.Readlink(path)
				return nil, nil, &FileError{Path: path, Reason: reasonDanglingSymlink, Message: "symlink target " + target + " does not exist"}
			}
			// Removed since the glob listed it (a rename over it, a delete): nothing to
			// report; the watcher's event brings the next scan.
			return nil, nil, nil
		}
		fe := fileError(path, err)
		return nil, nil, &fe
	}
	if fi.IsDir() {
		return nil, nil, nil
	}
	if !fi.Mode().IsRegular() {
		// Opening a FIFO or a device could block or read forever.
		return nil, nil, &FileError{Path: path, Reason: reasonIO, Message: "not a regular file (" + fi.Mode().Type().String() + ")"}
	}
	if fi.Size() > maxSize {
		return nil, nil, &FileError{Path: path, Reason: reasonTooLarge, Message: fmt.Sprintf("%d bytes, more than max_file_size %d", fi.Size(), maxSize)}
	}
	ver := keyOf(path, fi)
	s.cacheMu.Lock()
	p, ok := s.cache[path]
	ok = ok && p.ver == ver.fileVersion && !p.racy && p.more().password == password
	if ok {
		p.gen = s.gen
	}
	s.cacheMu.Unlock()
	if ok && !reread {
		return p, nil, nil
	}

	data, err := readCapped(path, fi.Size(), maxSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil // removed between stat and open, as above
	}
	if err != nil {
		fe := fileError(path, err)
		return nil, nil, &fe
	}
	if ok {
		// The cached version read again for its certificates: its checks and pool stay valid.
		if xs, _ := certs.Decode(data, password); len(xs) == len(p.certs) {
			return p, xs, nil
		}
		// Rewritten in place with the same size and times: parse it afresh.
	}
	p, xs := decode(path, data, password)
	p.ver, p.racy = ver.fileVersion, time.Since(fi.ModTime()) < racyWindow
	p.gen = s.gen
	s.cacheMu.Lock()
	s.cache[path] = p
	s.cacheMu.Unlock()
	return p, xs, nil
}

// decode parses file content; a decode problem is recorded next to whatever was found.
func decode(path string, data []byte, password string) (*parsed, []*x509.Certificate) {
	p := &parsed{}
	if password != "" {
		p.edit().password = password
	}
	xs, ks, err := decodeWithCRLs(p, data, password)
	if len(xs) > 0 {
		p.certs = make([]certs.Cert, len(xs))
	}
	for i, c := range xs {
		p.certs[i] = certs.New(c)
		if ks.Aliases != nil {
			p.certs[i].Alias = ks.Aliases[i]
		}
	}
	if len(xs) > 0 && ks.Aliases != nil {
		r := p.edit()
		r.keystore, r.keyed = true, ks.Keyed
		if starts := ks.Chains(); len(starts) > 1 {
			r.starts = starts[1:]
		}
	}
	if errors.Is(err, certs.ErrKeyOnly) {
		return p, xs // a key caught by a broad glob is not a certificate file, nor an error
	}
	if err != nil {
		p.edit().err = &FileError{Path: path, Reason: certs.DecodeReason(err), Message: err.Error()}
	}
	return p, xs
}

var errTooLarge = errors.New("file grew beyond max_file_size while being read")

// readCapped reads at most maxSize bytes: a file can grow between stat and read. size is what
// the stat said: the buffer is allocated once, with room to notice growth (as os.ReadFile).
func readCapped(path string, size, maxSize int64) ([]byte, error) {
	f, _, err := fsread.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data := make([]byte, 0, min(max(size, 0), maxSize)+1)
	r := io.LimitReader(f, maxSize+1)
	for {
		n, err := r.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
	}
	if int64(len(data)) > maxSize {
		return nil, errTooLarge
	}
	return data, nil
}

// verifyFresh reports whether the last chain check still holds: same roots, and no
// certificate's validity bound passed since.
func (p *parsed) verifyFresh(roots *x509.CertPool, now time.Time) bool {
	return p.verified && p.roots == roots && (p.until.IsZero() || now.Before(p.until))
}

// span is one chain of a file: its certificates p.certs[start:end], and for a Java keystore's
// private key entry the alias that names it (the chain's `key`).
type span struct {
	start, end int
	key        string
}

// chains are the file's chains: all its certificates, or a Java keystore's entries.
func (p *parsed) chains() []span {
	r := p.more()
	if !r.keystore {
		return []span{{0, len(p.certs), ""}}
	}
	var out []span
	for _, sp := range certs.Spans(append([]int{0}, r.starts...), r.keyed, len(p.certs)) {
		key := ""
		if sp.Keyed {
			key = p.certs[sp.Start].Alias
		}
		out = append(out, span{sp.Start, sp.End, key})
	}
	return out
}

// verify checks the file's chains in xs (its certificates, nil when it came from the cache),
// unless the last results are still fresh. A parsed value belongs to one path, hence to one
// job of a scan, so no lock is needed.
func (p *parsed) verify(xs []*x509.Certificate, roots *x509.CertPool, now time.Time) {
	if p.verifyFresh(roots, now) {
		return
	}
	p.until = time.Time{}
	if p.rare != nil {
		p.rare.verifyRes = p.rare.verifyRes[:0]
	}
	for i, sp := range p.chains() {
		chain := xs[sp.start:sp.end]
		r, path := certs.VerifyPath(chain, certs.VerifyOptions{Roots: roots, Now: now})
		if u := certs.NextBound(now, chain, path); !u.IsZero() && (p.until.IsZero() || u.Before(p.until)) {
			p.until = u
		}
		if i == 0 {
			p.verifyRes = r
		} else {
			p.rare.verifyRes = append(p.rare.verifyRes, r) // chains after the first: a keystore's, in rare
		}
	}
	p.verified, p.roots = true, roots
}

// verifyResult is the last check of the file's chain i (p.chains).
func (p *parsed) verifyResult(i int) certs.VerifyResult {
	if i == 0 {
		return p.verifyRes
	}
	return p.rare.verifyRes[i-1]
}

func fileError(path string, err error) FileError {
	reason := reasonIO
	switch {
	case errors.Is(err, fs.ErrPermission):
		reason = reasonPermission
	case errors.Is(err, fs.ErrNotExist):
		reason = reasonNotFound
	case errors.Is(err, errTooLarge):
		reason = reasonTooLarge
	}
	return FileError{Path: path, Reason: reason, Message: err.Error()}
}
