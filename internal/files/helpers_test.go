package files

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testwait"
)

// lines counts log lines containing all of the fragments.
func logLines(s *testwait.Buffer, frags ...string) int {
	n := 0
	for _, l := range strings.Split(s.String(), "\n") {
		ok := l != ""
		for _, f := range frags {
			ok = ok && strings.Contains(l, f)
		}
		if ok {
			n++
		}
	}
	return n
}

// fileEntry returns a config entry with the defaults config.Parse would apply.
func fileEntry(paths ...string) config.Files {
	cfg, err := config.Parse([]byte("files:\n  - paths: [x]\n"))
	if err != nil {
		panic(err)
	}
	e := cfg.Files[0]
	e.Paths = paths
	return e
}

func newSource(t testing.TB, entries []config.Files, certbotDir string, now time.Time) (*Source, *testwait.Buffer) {
	t.Helper()
	logs := &testwait.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s := New(entries, certbotDir, logger, clockwork.NewFakeClockAt(now))
	return s, logs
}

func scanOnce(t testing.TB, s *Source) *source.Snapshot {
	t.Helper()
	snap, _ := s.scan(context.Background(), nil, nil)
	return snap
}

func write(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// age sets a file's times in the past so that the cache trusts it (see racyWindow).
func age(t testing.TB, path string) {
	t.Helper()
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
}

func chainByPath(snap *source.Snapshot, path string) *certs.Chain {
	for i := range snap.Chains {
		if snap.Chains[i].Path == path {
			return &snap.Chains[i]
		}
	}
	return nil
}

func errorsOf(snap *source.Snapshot) map[string]string {
	out := map[string]string{}
	for _, e := range snap.Problems {
		out[e.Where] = e.Reason
	}
	return out
}

func serial(c *testcerts.Cert) string { return c.Cert.SerialNumber.Text(16) }

// certbotTree is a certbot config dir written exactly as certbot's storage.py does it.
type certbotTree struct {
	t    testing.TB
	dir  string
	pki  *testcerts.PKI
	keys map[string]*testcerts.Cert // lineage → current leaf
}

func newCertbotTree(t testing.TB, pki *testcerts.PKI) *certbotTree {
	return &certbotTree{t: t, dir: t.TempDir(), pki: pki, keys: map[string]*testcerts.Cert{}}
}

func (c *certbotTree) live(lineage, kind string) string {
	return filepath.Join(c.dir, "live", lineage, kind+".pem")
}

// newLineage is RenewableCert.new_lineage: relative links live/NAME/kind.pem → ../../archive/NAME/kind1.pem.
func (c *certbotTree) newLineage(name string, leaf *testcerts.Cert) {
	c.t.Helper()
	for _, d := range []string{"live/" + name, "archive/" + name} {
		if err := os.MkdirAll(filepath.Join(c.dir, d), 0o700); err != nil {
			c.t.Fatal(err)
		}
	}
	c.saveSuccessor(name, 1, leaf)
	for _, kind := range lineageKinds {
		if err := os.Symlink(filepath.Join("..", "..", "archive", name, fmt.Sprintf("%s1.pem", kind)), c.live(name, kind)); err != nil {
			c.t.Fatal(err)
		}
	}
}

// saveSuccessor writes archive/NAME/{privkey,cert,chain,fullchain}N.pem the way certbot does:
// open, then write (not atomic).
func (c *certbotTree) saveSuccessor(name string, version int, leaf *testcerts.Cert) {
	c.t.Helper()
	c.keys[name] = leaf
	files := map[string][]byte{
		"privkey":   leaf.KeyPEM(),
		"cert":      leaf.PEM(),
		"chain":     c.pki.Intermediate.PEM(),
		"fullchain": testcerts.Bundle(leaf, c.pki.Intermediate),
	}
	for _, kind := range lineageKinds {
		f, err := os.OpenFile(filepath.Join(c.dir, "archive", name, fmt.Sprintf("%s%d.pem", kind, version)), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			c.t.Fatal(err)
		}
		data := files[kind]
		// Two writes, so that a reader can see a half-written file.
		if _, err := f.Write(data[:len(data)/2]); err != nil {
			c.t.Fatal(err)
		}
		if _, err := f.Write(data[len(data)/2:]); err != nil {
			c.t.Fatal(err)
		}
		f.Close()
	}
}

// updateAllLinksTo is RenewableCert.update_all_links_to: previous_* links to the current
// targets, then for each kind unlink + symlink to the new version, then remove previous_*.
func (c *certbotTree) updateAllLinksTo(name string, version int) {
	c.t.Helper()
	liveDir := filepath.Join(c.dir, "live", name)
	for _, kind := range lineageKinds {
		target, err := filepath.EvalSymlinks(c.live(name, kind))
		if err != nil {
			c.t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(liveDir, "previous_"+kind+".pem")); err != nil {
			c.t.Fatal(err)
		}
	}
	for _, kind := range lineageKinds {
		link := c.live(name, kind)
		old, err := os.Readlink(link)
		if err != nil {
			c.t.Fatal(err)
		}
		if err := os.Remove(link); err != nil {
			c.t.Fatal(err)
		}
		if err := os.Symlink(filepath.Join(filepath.Dir(old), fmt.Sprintf("%s%d.pem", kind, version)), link); err != nil {
			c.t.Fatal(err)
		}
	}
	for _, kind := range lineageKinds {
		if err := os.Remove(filepath.Join(liveDir, "previous_"+kind+".pem")); err != nil {
			c.t.Fatal(err)
		}
	}
}
