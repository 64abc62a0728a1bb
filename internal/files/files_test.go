package files

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testuser"
)

func TestFormats(t *testing.T) {
	now := time.Now()
	pki := testcerts.NewPKI("Formats", now)
	leaf := pki.Leaf(testcerts.Options{CN: "a.test", Now: now})
	dir := t.TempDir()
	write(t, dir+"/full.pem", append(append([]byte("junk before\n"), testcerts.Bundle(leaf, pki.Intermediate)...), leaf.KeyPEM()...))
	write(t, dir+"/leaf.der", leaf.DER)
	write(t, dir+"/store.p12", leaf.PKCS12("s3cret", pki.Intermediate))
	write(t, dir+"/trust.pfx", testcerts.TrustStore("s3cret", pki.Root, pki.Intermediate))
	write(t, dir+"/wrong/store.p12", leaf.PKCS12("other"))
	write(t, dir+"/pwfile", []byte("s3cret\n"))
	write(t, dir+"/viafile/store.p12", leaf.PKCS12("s3cret"))

	e1 := fileEntry(dir+"/*.pem", dir+"/*.der", dir+"/*.p12", dir+"/*.pfx", dir+"/wrong/*")
	e1.Password = "s3cret"
	e2 := fileEntry(dir + "/viafile/*.p12")
	e2.PasswordFile = dir + "/pwfile"
	s, _ := newSource(t, []config.Files{e1, e2}, "", now)
	snap := scanOnce(t, s)

	want := map[string][]string{
		dir + "/full.pem":          {serial(leaf), serial(pki.Intermediate)},
		dir + "/leaf.der":          {serial(leaf)},
		dir + "/store.p12":         {serial(leaf), serial(pki.Intermediate)},
		dir + "/trust.pfx":         {serial(pki.Root), serial(pki.Intermediate)},
		dir + "/viafile/store.p12": {serial(leaf)},
	}
	got := map[string][]string{}
	for _, c := range snap.Chains {
		for _, x := range c.Certs {
			got[c.Path] = append(got[c.Path], x.Serial)
		}
		if c.Source != certs.SourceFile || c.Lineage != "" {
			t.Errorf("%s: location %+v", c.Path, c.Location)
		}
	}
	for p, w := range want {
		if !slices.Equal(got[p], w) {
			t.Errorf("%s: serials %v, want %v", p, got[p], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("chains for %v, want %d files", got, len(want))
	}
	if e := errorsOf(snap); len(e) != 1 || e[dir+"/wrong/store.p12"] != reasonPassword {
		t.Errorf("errors %v, want only a password error", snap.Problems)
	}
}

func TestBadInput(t *testing.T) {
	now := time.Now()
	pki := testcerts.NewPKI("Bad", now)
	good := pki.Leaf(testcerts.Options{CN: "good.test", Now: now})
	dir := t.TempDir()
	write(t, dir+"/good.pem", good.PEM())
	write(t, dir+"/empty.pem", nil)
	write(t, dir+"/garbage.pem", []byte("this is not a certificate\x00\x01"))
	pemData := good.PEM()
	write(t, dir+"/truncated.pem", pemData[:len(pemData)/2])
	if err := os.Symlink(dir+"/nowhere.pem", dir+"/dangling.pem"); err != nil {
		t.Fatal(err)
	}
	// A 1 GiB sparse file: reported by its size, never read.
	f, err := os.Create(dir + "/huge.pem")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := os.Mkdir(dir+"/subdir.pem", 0o755); err != nil { // a directory matched by the glob is skipped
		t.Fatal(err)
	}

	s, logs := newSource(t, []config.Files{fileEntry(dir+"/*.pem", dir+"/none/*.crt")}, "", now)
	snap := scanOnce(t, s)
	want := map[string]string{
		dir + "/empty.pem":     reasonEmpty,
		dir + "/garbage.pem":   reasonParse,
		dir + "/truncated.pem": reasonParse,
		dir + "/dangling.pem":  reasonDanglingSymlink,
		dir + "/huge.pem":      reasonTooLarge,
		dir + "/none/*.crt":    reasonNoMatch,
	}
	if got := errorsOf(snap); !mapsEqual(got, want) {
		t.Errorf("errors\n got %v\nwant %v", got, want)
	}
	if len(snap.Chains) != 1 || snap.Chains[0].Path != dir+"/good.pem" {
		t.Fatalf("chains %+v, want good.pem only", snap.Chains)
	}
	st := snap.Status[0]
	if !st.Up || st.Errors[reasonParse] != 2 || st.Errors[reasonEmpty] != 1 || st.Errors[reasonPermission] != 0 || len(st.Errors) != len(ErrorReasons) {
		t.Errorf("status %+v", st)
	}

	// Same state again: no new log line, no new count. Fixed: one "resolved" line.
	scanOnce(t, s)
	if n := logLines(logs, "garbage.pem", "reason=parse"); n != 1 {
		t.Errorf("%d log lines about garbage.pem after two scans, want 1:\n%s", n, logs)
	}
	write(t, dir+"/garbage.pem", good.PEM())
	snap = scanOnce(t, s)
	if _, bad := errorsOf(snap)[dir+"/garbage.pem"]; bad || chainByPath(snap, dir+"/garbage.pem") == nil {
		t.Errorf("fixed file still failing: %v", snap.Problems)
	}
	if n := logLines(logs, "garbage.pem", "resolved"); n != 1 {
		t.Errorf("%d resolved lines, want 1:\n%s", n, logs)
	}
	if snap.Status[0].Errors[reasonParse] != 2 {
		t.Errorf("parse errors counted %d, want 2 (once per state change)", snap.Status[0].Errors[reasonParse])
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestPermission(t *testing.T) {
	if testuser.Nobody(t, "^TestPermission$") {
		return
	}
	now := time.Now()
	pki := testcerts.NewPKI("Perm", now)
	leaf := pki.Leaf(testcerts.Options{Now: now})
	dir := t.TempDir()
	write(t, dir+"/a/cert.pem", leaf.PEM())
	write(t, dir+"/a/privkey.pem", leaf.KeyPEM())
	write(t, dir+"/locked.pem", leaf.PEM())
	write(t, dir+"/closed/x.pem", leaf.PEM())
	for _, p := range []string{dir + "/a/privkey.pem", dir + "/locked.pem", dir + "/closed"} {
		if err := os.Chmod(p, 0); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(p, 0o755)
	}
	s, _ := newSource(t, []config.Files{fileEntry(dir+"/a/cert.pem", dir+"/*.pem", dir+"/closed/*.pem")}, "", now)
	snap := scanOnce(t, s)
	want := map[string]string{dir + "/locked.pem": reasonPermission, dir + "/closed": reasonPermission}
	if got := errorsOf(snap); !mapsEqual(got, want) {
		t.Errorf("errors %v, want %v (the unreadable key is not opened without check_key)", got, want)
	}
	if chainByPath(snap, dir+"/a/cert.pem") == nil {
		t.Error("readable certificate not exported")
	}
}

func TestGlobsExcludeAndDuplicates(t *testing.T) {
	now := time.Now()
	pki := testcerts.NewPKI("Glob", now)
	dir := t.TempDir()
	for _, p := range []string{"a.pem", "x/b.pem", "x/y/c.pem", "x/y/old/d.pem", "x/e.crt"} {
		write(t, filepath.Join(dir, p), pki.Leaf(testcerts.Options{Now: now}).PEM())
	}
	if err := os.Symlink(dir+"/x", dir+"/x/y/loop"); err != nil { // "**" enters each directory once
		t.Fatal(err)
	}
	e1 := fileEntry(dir + "/**/*.pem")
	e1.Exclude = []string{dir + "/**/old/**"}
	e2 := fileEntry(dir+"/x/*.pem", dir+"/x/*.crt") // x/b.pem matched twice: exported once
	s, _ := newSource(t, []config.Files{e1, e2}, "", now)
	snap := scanOnce(t, s)
	var got []string
	for _, c := range snap.Chains {
		got = append(got, c.Path)
	}
	want := []string{dir + "/a.pem", dir + "/x/b.pem", dir + "/x/e.crt", dir + "/x/y/c.pem"}
	if !slices.Equal(got, want) {
		t.Errorf("paths\n got %v\nwant %v", got, want)
	}
	if len(snap.Problems) != 0 {
		t.Errorf("errors %v", snap.Problems)
	}
}

func TestCheckKey(t *testing.T) {
	now := time.Now()
	pki := testcerts.NewPKI("Key", now)
	tree := newCertbotTree(t, pki)
	tree.newLineage("good.test", pki.Leaf(testcerts.Options{CN: "good.test", Now: now}))
	tree.newLineage("bad.test", pki.Leaf(testcerts.Options{CN: "bad.test", Now: now}))
	other := pki.Leaf(testcerts.Options{Now: now})
	write(t, filepath.Join(tree.dir, "archive/bad.test/privkey1.pem"), other.KeyPEM())
	// A lineage whose key link dangles: never looked at without check_key.
	tree.newLineage("nokey.test", pki.Leaf(testcerts.Options{CN: "nokey.test", Now: now}))
	os.Remove(filepath.Join(tree.dir, "archive/nokey.test/privkey1.pem"))

	glob := tree.dir + "/live/*/fullchain.pem"
	off, _ := newSource(t, []config.Files{fileEntry(glob)}, tree.dir, now)
	snap := scanOnce(t, off)
	if len(snap.Problems) != 0 || len(snap.Chains) != 3 {
		t.Fatalf("check_key off: errors %v, %d chains", snap.Problems, len(snap.Chains))
	}
	for _, c := range snap.Chains {
		if c.KeyMatch != nil {
			t.Errorf("%s: KeyMatch set without check_key", c.Path)
		}
	}

	e := fileEntry(glob)
	e.CheckKey = true
	on, _ := newSource(t, []config.Files{e}, tree.dir, now)
	snap = scanOnce(t, on)
	for lineage, want := range map[string]bool{"good.test": true, "bad.test": false} {
		c := chainByPath(snap, tree.live(lineage, "fullchain"))
		if c == nil || c.KeyMatch == nil || *c.KeyMatch != want {
			t.Errorf("%s: KeyMatch %v, want %v", lineage, c.KeyMatch, want)
		}
	}
	if got := errorsOf(snap); !mapsEqual(got, map[string]string{tree.live("nokey.test", "privkey"): reasonDanglingSymlink}) {
		t.Errorf("errors %v", got)
	}

	// Every .pem of the lineages: chain.pem starts with the intermediate, which has no key of
	// its own here; comparing it with privkey.pem would report a mismatch on every host.
	e = fileEntry(tree.dir + "/live/good.test/*.pem")
	e.CheckKey = true
	all, _ := newSource(t, []config.Files{e}, tree.dir, now)
	snap = scanOnce(t, all)
	if len(snap.Problems) != 0 {
		t.Errorf("all .pem: errors %v", errorsOf(snap))
	}
	for kind, want := range map[string]*bool{"cert": ptr(true), "fullchain": ptr(true), "chain": nil} {
		c := chainByPath(snap, tree.live("good.test", kind))
		if c == nil || (c.KeyMatch == nil) != (want == nil) || want != nil && *c.KeyMatch != *want {
			t.Errorf("%s.pem: KeyMatch %v, want %v", kind, c.KeyMatch, want)
		}
	}

	// key_paths: site.crt ↔ site.key by stem.
	dir := t.TempDir()
	leaf := pki.Leaf(testcerts.Options{Now: now})
	write(t, dir+"/site.crt", leaf.PEM())
	write(t, dir+"/site.key", leaf.KeyPEM())
	write(t, dir+"/other.key", other.KeyPEM())
	e = fileEntry(dir + "/*.crt")
	e.CheckKey, e.KeyPaths = true, []string{dir + "/*.key"}
	kp, _ := newSource(t, []config.Files{e}, "", now)
	snap = scanOnce(t, kp)
	if c := chainByPath(snap, dir+"/site.crt"); c == nil || c.KeyMatch == nil || !*c.KeyMatch {
		t.Errorf("key_paths: %+v", snap)
	}
}

func TestCertbotLineages(t *testing.T) {
	now := time.Now()
	pki := testcerts.NewPKI("LE", now)
	tree := newCertbotTree(t, pki)
	tree.newLineage("example.com", pki.Leaf(testcerts.Options{CN: "example.com", Now: now}))
	tree.newLineage("example.com-0001", pki.Leaf(testcerts.Options{CN: "example.com", Now: now}))
	tree.newLineage("app-2024", pki.Leaf(testcerts.Options{CN: "app", Now: now}))
	write(t, filepath.Join(tree.dir, "live/README"), []byte("certbot's README"))
	write(t, filepath.Join(tree.dir, "live/example.com/README"), []byte("certbot's README"))

	s, _ := newSource(t, []config.Files{fileEntry(tree.dir + "/live/*/*")}, tree.dir, now)
	snap := scanOnce(t, s)
	if len(snap.Problems) != 0 {
		t.Errorf("errors %v (README, privkey.pem must be skipped)", snap.Problems)
	}
	if len(snap.Chains) != 9 {
		t.Errorf("%d chains, want 3 lineages × cert, chain, fullchain", len(snap.Chains))
	}
	for _, c := range snap.Chains {
		lineage := filepath.Base(filepath.Dir(c.Path))
		if c.Lineage != lineage || c.DuplicateLineage != (lineage == "example.com-0001") {
			t.Errorf("%s: lineage %q duplicate %v", c.Path, c.Lineage, c.DuplicateLineage)
		}
	}
	full := chainByPath(snap, tree.live("example.com", "fullchain"))
	if full == nil || len(full.Certs) != 2 || full.Certs[0].Serial != serial(tree.keys["example.com"]) {
		t.Fatalf("fullchain %+v", full)
	}
	if full.Verify.Reason != certs.ReasonUnknownAuthority {
		t.Errorf("verify %+v against system roots, want unknown_authority", full.Verify)
	}
}

// TestCertbotRenewalIsNeverHalfSeen replays certbot's renewal (storage.py save_successor, then
// update_all_links_to) over and over while scanning in a loop: every scan must show the lineage
// complete, with cert.pem, chain.pem and fullchain.pem of one same version.
func TestCertbotRenewalIsNeverHalfSeen(t *testing.T) {
	now := time.Now()
	pki := testcerts.NewPKI("LE", now)
	tree := newCertbotTree(t, pki)
	tree.newLineage("example.com", pki.Leaf(testcerts.Options{CN: "example.com", Now: now}))
	tree.newLineage("steady.test", pki.Leaf(testcerts.Options{CN: "steady.test", Now: now}))
	s, _ := newSource(t, []config.Files{fileEntry(tree.dir + "/live/*/*.pem")}, tree.dir, now)

	renewals := 60
	if testing.Short() {
		renewals = 15
	}
	// Pre-generate so that the renewals run back to back.
	leaves := make([]*testcerts.Cert, renewals)
	order := map[string]int{serial(tree.keys["example.com"]): 0}
	for i := range leaves {
		leaves[i] = pki.Leaf(testcerts.Options{CN: "example.com", Now: now})
		order[serial(leaves[i])] = i + 1
	}

	scanOnce(t, s) // the exporter's first scan, before certbot starts
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg       sync.WaitGroup
		scans    int
		held     int
		problems []string
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		last := 0
		for ctx.Err() == nil {
			snap, retry := s.scan(ctx, nil, nil)
			if ctx.Err() != nil {
				return // a cancelled scan is incomplete and never published
			}
			scans++
			if retry {
				held++
			}
			if p := checkLineage(snap, tree, order, &last); p != "" {
				var paths []string
				for _, c := range snap.Chains {
					paths = append(paths, filepath.Base(c.Path)+"@"+c.Lineage)
				}
				problems = append(problems, fmt.Sprint(p, retry, paths))
			}
		}
	}()
	for i, leaf := range leaves {
		tree.saveSuccessor("example.com", i+2, leaf)
		tree.updateAllLinksTo("example.com", i+2)
	}
	cancel()
	wg.Wait()
	for _, p := range problems[:min(len(problems), 5)] {
		t.Error(p)
	}
	t.Logf("%d scans during %d renewals, %d caught a lineage mid-update", scans, renewals, held)

	snap := scanOnce(t, s)
	last := 0
	if p := checkLineage(snap, tree, order, &last); p != "" || last != renewals {
		t.Errorf("after the renewals: %s; version %d, want %d", p, last, renewals)
	}
}

// checkLineage returns what is wrong with the example.com lineage in snap: a missing file, an
// error, files of different versions, or a version older than one seen before.
func checkLineage(snap *source.Snapshot, tree *certbotTree, order map[string]int, last *int) string {
	if len(snap.Problems) != 0 {
		return "errors: " + snap.Problems[0].Where + " " + snap.Problems[0].Reason
	}
	version := -1
	for _, kind := range []string{"cert", "fullchain"} {
		c := chainByPath(snap, tree.live("example.com", kind))
		if c == nil {
			return kind + ".pem missing"
		}
		v, ok := order[c.Certs[0].Serial]
		if !ok {
			return kind + ".pem has an unknown certificate"
		}
		if version >= 0 && v != version {
			return "cert.pem and fullchain.pem disagree"
		}
		version = v
	}
	if c := chainByPath(snap, tree.live("example.com", "chain")); c == nil {
		return "chain.pem missing"
	}
	if chainByPath(snap, tree.live("steady.test", "fullchain")) == nil {
		return "steady lineage missing"
	}
	for _, c := range snap.Chains {
		if filepath.Base(c.Path) != "cert.pem" && filepath.Base(c.Path) != "chain.pem" && filepath.Base(c.Path) != "fullchain.pem" {
			return "unexpected file " + c.Path
		}
	}
	if version < *last {
		return "went back in time"
	}
	*last = version
	return ""
}

func TestCacheReusesUnchangedFiles(t *testing.T) {
	now := time.Now()
	pki := testcerts.NewPKI("Cache", now)
	dir := t.TempDir()
	write(t, dir+"/a.pem", pki.Leaf(testcerts.Options{Now: now}).PEM())
	write(t, dir+"/fresh.pem", pki.Leaf(testcerts.Options{Now: now}).PEM())
	age(t, dir+"/a.pem")
	s, _ := newSource(t, []config.Files{fileEntry(dir + "/*.pem")}, "", now)
	first := scanOnce(t, s)
	second := scanOnce(t, s)
	same := func(a, b *source.Snapshot, p string) bool {
		return &chainByPath(a, p).Certs[0] == &chainByPath(b, p).Certs[0]
	}
	if !same(first, second, dir+"/a.pem") {
		t.Error("unchanged file parsed again")
	}
	if same(first, second, dir+"/fresh.pem") {
		t.Error("a file modified just now was trusted from the cache (racy)")
	}
	next := pki.Leaf(testcerts.Options{Now: now})
	write(t, dir+"/a.pem", next.PEM())
	age(t, dir+"/a.pem")
	third := scanOnce(t, s)
	if got := chainByPath(third, dir+"/a.pem").Certs[0].Serial; got != serial(next) {
		t.Errorf("changed file: serial %s, want %s", got, serial(next))
	}
}

// TestRechecksFromCache: the cache keeps no parsed certificates, so a check that must be redone
// re-reads the file: the chain check once the leaf's NotAfter passes, the key check once the
// key changes. The cached entry (with its checks, and the ca_file's pool, here matched by the
// glob too) survives the re-read.
func TestRechecksFromCache(t *testing.T) {
	now := time.Now()
	pki := testcerts.NewPKI("Recheck", now)
	dir := t.TempDir()
	leaf := pki.Leaf(testcerts.Options{CN: "short.test", Now: now, NotAfter: now.Add(time.Hour)})
	other := pki.Leaf(testcerts.Options{Now: now})
	write(t, dir+"/site.pem", append(leaf.PEM(), pki.Intermediate.PEM()...))
	write(t, dir+"/site.key", leaf.KeyPEM())
	write(t, dir+"/ca.pem", pki.Root.PEM())
	for _, f := range []string{"site.pem", "site.key", "ca.pem"} {
		age(t, dir+"/"+f)
	}
	e := fileEntry(dir + "/*.pem")
	e.CAFile, e.CheckKey, e.KeyPaths = dir+"/ca.pem", true, []string{dir + "/*.key"}
	clock := clockwork.NewFakeClockAt(now)
	s := New([]config.Files{e}, "", slog.New(slog.DiscardHandler), clock)

	type state struct {
		reason string
		key    bool
	}
	check := func(step string, want state) *certs.Cert {
		t.Helper()
		snap := scanOnce(t, s)
		c := chainByPath(snap, dir+"/site.pem")
		if c == nil || c.KeyMatch == nil || len(snap.Problems) != 0 {
			t.Fatalf("%s: chain %+v, errors %v", step, c, snap.Problems)
		}
		if got := (state{c.Verify.Reason, *c.KeyMatch}); got != want {
			t.Errorf("%s: %+v, want %+v", step, got, want)
		}
		if ca := chainByPath(snap, dir+"/ca.pem"); ca == nil || ca.Verify.Reason != certs.ReasonOK {
			t.Errorf("%s: ca.pem %+v", step, ca)
		}
		return &c.Certs[0]
	}
	first := check("first scan", state{certs.ReasonOK, true})
	if again := check("cached", state{certs.ReasonOK, true}); again != first {
		t.Error("unchanged file parsed again")
	}
	clock.Advance(2 * time.Hour)
	if expired := check("after NotAfter", state{certs.ReasonExpired, true}); expired != first {
		t.Error("re-check replaced the cache entry")
	}
	write(t, dir+"/site.key", other.KeyPEM())
	age(t, dir+"/site.key")
	if rekeyed := check("key replaced", state{certs.ReasonExpired, false}); rekeyed != first {
		t.Error("key re-check replaced the cache entry")
	}
}

// TestReadCapped: the stat size only sizes the buffer; the cap holds whatever the file became.
func TestReadCapped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	data := []byte(strings.Repeat("0123456789", 100))
	write(t, path, data)
	n := int64(len(data))
	for _, tc := range []struct {
		size, max int64
		err       error
	}{
		{n, n, nil},          // as stat said
		{0, n, nil},          // grew from empty since the stat
		{n - 10, n + 5, nil}, // grew a little, under the cap
		{n + 100, n, nil},    // shrank
		{n - 10, n - 1, errTooLarge},
		{n, n - 1, errTooLarge},
	} {
		got, err := readCapped(path, tc.size, tc.max)
		if err != tc.err || err == nil && !bytes.Equal(got, data) {
			t.Errorf("size %d, max %d: %d bytes, err %v; want err %v", tc.size, tc.max, len(got), err, tc.err)
		}
	}
}

// TestPartialScan: after watcher events, only the files of the changed directories are looked
// at again; the others come from the cache unseen, except symlinks (their target may live in a
// directory that is not watched). New and deleted files show everywhere, since every directory
// is still listed.
func TestPartialScan(t *testing.T) {
	now := time.Now()
	pki := testcerts.NewPKI("Partial", now)
	root, elsewhere := t.TempDir(), t.TempDir()
	leaf := func() *testcerts.Cert { return pki.Leaf(testcerts.Options{Now: now}) }
	v1 := map[string]*testcerts.Cert{"quiet/a.pem": leaf(), "quiet/gone.pem": leaf(), "busy/b.pem": leaf()}
	for name, c := range v1 {
		write(t, filepath.Join(root, name), c.PEM())
		age(t, filepath.Join(root, name))
	}
	target := leaf()
	write(t, elsewhere+"/target.pem", target.PEM())
	age(t, elsewhere+"/target.pem")
	if err := os.Symlink(elsewhere+"/target.pem", root+"/quiet/link.pem"); err != nil {
		t.Fatal(err)
	}
	s, _ := newSource(t, []config.Files{fileEntry(root + "/**/*.pem")}, "", now)
	scanOnce(t, s)

	// Changes in both directories, but the watcher reports only busy/.
	v2 := map[string]*testcerts.Cert{"quiet/a.pem": leaf(), "busy/b.pem": leaf(), "quiet/new.pem": leaf()}
	for name, c := range v2 {
		write(t, filepath.Join(root, name), c.PEM())
		age(t, filepath.Join(root, name))
	}
	os.Remove(root + "/quiet/gone.pem")
	target2 := leaf()
	write(t, elsewhere+"/target.pem", target2.PEM())
	age(t, elsewhere+"/target.pem")

	serials := func(snap *source.Snapshot) map[string]string {
		out := map[string]string{}
		for _, c := range snap.Chains {
			out[strings.TrimPrefix(c.Path, root+"/")] = c.Certs[0].Serial
		}
		return out
	}
	partial, _ := s.scan(context.Background(), map[string]struct{}{root + "/busy": {}}, nil)
	want := map[string]string{
		"quiet/a.pem":    serial(v1["quiet/a.pem"]), // not looked at: the watcher said nothing
		"busy/b.pem":     serial(v2["busy/b.pem"]),
		"quiet/new.pem":  serial(v2["quiet/new.pem"]),
		"quiet/link.pem": serial(target2),
	}
	if got := serials(partial); !mapsEqual(got, want) {
		t.Errorf("partial scan: %v, want %v", got, want)
	}
	want["quiet/a.pem"] = serial(v2["quiet/a.pem"])
	if got := serials(scanOnce(t, s)); !mapsEqual(got, want) {
		t.Errorf("full scan: %v, want %v", got, want)
	}
}

func ptr[T any](v T) *T { return &v }

// TestUsageClient: a `usage: client` entry marks its chains as a client's, and the one whose
// leaf lacks clientAuth breaks the policy (a server entry's same certificate does not).
func TestUsageClient(t *testing.T) {
	now := time.Now()
	pki := testcerts.NewPKI("Usage", now)
	dir := t.TempDir()
	serverOnly := pki.Leaf(testcerts.Options{CN: "renewed.client.test", Now: now, ExtKeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	both := pki.Leaf(testcerts.Options{CN: "old.client.test", Now: now, ExtKeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}})
	write(t, dir+"/client/renewed.pem", testcerts.Bundle(serverOnly, pki.Intermediate))
	write(t, dir+"/client/old.pem", testcerts.Bundle(both, pki.Intermediate))
	write(t, dir+"/server/www.pem", testcerts.Bundle(serverOnly, pki.Intermediate))
	client := fileEntry(dir + "/client/*.pem")
	client.Usage = config.UsageClient
	s, _ := newSource(t, []config.Files{client, fileEntry(dir + "/server/*.pem")}, "", now)
	got := map[string]string{}
	for _, c := range scanOnce(t, s).Chains {
		got[strings.TrimPrefix(c.Path, dir)] = c.Usage + " " + strings.Join(c.Violations(), ",")
	}
	want := map[string]string{"/client/renewed.pem": "client client_auth", "/client/old.pem": "client ", "/server/www.pem": " "}
	if !maps.Equal(got, want) {
		t.Errorf("usage and violations %q, want %q", got, want)
	}
}
