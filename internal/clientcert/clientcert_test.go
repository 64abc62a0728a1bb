package clientcert

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/collector"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testwait"
)

// snapCollector renders a snapshot as the exporter does: its chains and its own series.
type snapCollector struct {
	snap *source.Snapshot
	now  time.Time
}

func (snapCollector) Describe(chan<- *prometheus.Desc) {}

func (c snapCollector) Collect(ch chan<- prometheus.Metric) {
	collector.Chains{Chains: c.snap.Chains, Now: c.now}.Collect(ch)
	if c.snap.Metrics != nil {
		c.snap.Metrics(ch)
	}
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// world is four modules' client certificates on disk: two modules share a file whose leaf
// allows clientAuth, one uses a file named with glob characters (a sibling the name would
// match as a glob must not be read) whose leaf was renewed without clientAuth, and two share a
// file that is gone.
type world struct {
	dir            string
	cfg            *config.Config
	pki            *testcerts.PKI
	both, srvOnly  *testcerts.Cert
	shared, braket string
}

func newWorld(t *testing.T, now time.Time) *world {
	w := &world{dir: t.TempDir(), pki: testcerts.NewPKI("Client", now)}
	w.both = w.pki.Leaf(testcerts.Options{CN: "probe-client.test", Now: now, NotBefore: now.Add(-24 * time.Hour), NotAfter: now.Add(30 * 24 * time.Hour),
		ExtKeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}})
	w.srvOnly = w.pki.Leaf(testcerts.Options{CN: "renewed-client.test", Now: now, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(90 * 24 * time.Hour),
		ExtKeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	w.shared, w.braket = filepath.Join(w.dir, "shared.pem"), filepath.Join(w.dir, "client[1].pem")
	write(t, w.shared, testcerts.Bundle(w.both, w.pki.Intermediate))
	write(t, w.braket, testcerts.Bundle(w.srvOnly, w.pki.Intermediate))
	write(t, filepath.Join(w.dir, "client1.pem"), []byte("matched by client[1].pem as a glob"))
	cfg, err := config.Parse(fmt.Appendf(nil, `
modules:
  mtls:  {tls_config: {cert_file: %[1]q, key_file: %[4]q}, labels: {team: sre}}
  mtls2: {tls_config: {cert_file: %[1]q, key_file: %[4]q}}
  odd:   {tls_config: {cert_file: %[2]q, key_file: %[4]q}}
  gone:  {tls_config: {cert_file: %[3]q, key_file: %[4]q}}
  gone2: {tls_config: {cert_file: %[3]q, key_file: %[4]q}}
  plain: {}
`, w.shared, w.braket, filepath.Join(w.dir, "gone.pem"), filepath.Join(w.dir, "absent.key")))
	if err != nil {
		t.Fatal(err)
	}
	w.cfg = cfg
	return w
}

// TestModuleCerts: every module's client certificate is exported with source client and its
// module, from its own file (a file two modules share is two chains), policed as a client's
// (the renewed leaf lacking clientAuth breaks client_auth), health per module, one file error
// series per file however many modules share it, a log line naming the module, the module's
// owner labels on its chain, and no key read (the modules' key_file does not exist, and
// nothing complains).
func TestModuleCerts(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	w := newWorld(t, now)
	logs := &testwait.Buffer{}
	src := New(w.cfg.ModuleCerts(), slog.New(slog.NewTextHandler(logs, nil)), clockwork.NewFakeClockAt(now))
	snap := src.Once(context.Background())

	leafSeries := func(module, path string, c *testcerts.Cert) string {
		return fmt.Sprintf(`{domain=%q,index="0",issuer="Client Intermediate CA",module=%q,path=%q,serial=%q,source="client"}`,
			c.Cert.Subject.CommonName, module, path, c.Cert.SerialNumber.Text(16))
	}
	want := fmt.Sprintf(`# HELP cert_expiry_exporter_file_error 1 per file (or glob, or directory) that currently cannot be read, with the reason.
# TYPE cert_expiry_exporter_file_error gauge
cert_expiry_exporter_file_error{path=%[1]q,reason="no_match"} 1
# HELP cert_not_after_timestamp_seconds Certificate NotAfter as a Unix timestamp.
# TYPE cert_not_after_timestamp_seconds gauge
cert_not_after_timestamp_seconds%[2]s %[5]v
cert_not_after_timestamp_seconds%[3]s %[5]v
cert_not_after_timestamp_seconds%[4]s %[6]v
# HELP cert_policy_violation 1 for a leaf certificate that breaks the policy named by the policy label.
# TYPE cert_policy_violation gauge
cert_policy_violation%[7]s 1
`, filepath.Join(w.dir, "gone.pem"),
		leafSeries("mtls", w.shared, w.both), leafSeries("mtls2", w.shared, w.both), leafSeries("odd", w.braket, w.srvOnly),
		float64(w.both.Cert.NotAfter.Unix()), float64(w.srvOnly.Cert.NotAfter.Unix()),
		fmt.Sprintf(`{domain="renewed-client.test",index="0",issuer="Client Intermediate CA",module="odd",path=%q,policy="client_auth",serial=%q,source="client"}`,
			w.braket, w.srvOnly.Cert.SerialNumber.Text(16)))
	// The intermediates are the chains' index 1: only the leaves' NotAfter is compared here.
	only := &source.Snapshot{Metrics: snap.Metrics}
	for _, c := range snap.Chains {
		c.Certs = c.Certs[:1]
		only.Chains = append(only.Chains, c)
	}
	if err := testutil.CollectAndCompare(snapCollector{only, now}, strings.NewReader(want),
		"cert_not_after_timestamp_seconds", "cert_policy_violation", "cert_expiry_exporter_file_error"); err != nil {
		t.Error(err)
	}

	// The module's owner labels are on its client certificate's chain, not on the other
	// module's sharing the file.
	for _, c := range snap.Chains {
		want := map[string]certs.Labels{"mtls": {{Name: "team", Value: "sre"}}}[c.Module]
		if !slices.Equal(c.Labels, want) {
			t.Errorf("module %s: owner labels %v, want %v", c.Module, c.Labels, want)
		}
	}

	var health []string
	for _, st := range snap.Status {
		health = append(health, fmt.Sprintf("%s/%s up=%v %s", st.Source, st.Name, st.Up, strings.TrimPrefix(st.Error, w.dir)))
	}
	wantHealth := []string{"client/gone up=false /gone.pem: no file matches", "client/gone2 up=false /gone.pem: no file matches",
		"client/mtls up=true ", "client/mtls2 up=true ", "client/odd up=true "}
	if !slices.Equal(health, wantHealth) {
		t.Errorf("health\n%q\nwant\n%q", health, wantHealth)
	}
	for _, p := range snap.Problems {
		if p.Source != "client" || !strings.HasPrefix(p.Message, "client certificate of module gone") {
			t.Errorf("problem %+v: want source client and the module named", p)
		}
		if strings.Contains(p.Where+p.Message, "key") {
			t.Errorf("problem about a key %+v: the key is never read", p)
		}
	}
	for _, m := range []string{"gone", "gone2"} {
		if !strings.Contains(logs.String(), "module="+m) || !strings.Contains(logs.String(), "cannot use certificate file") {
			t.Errorf("no log line naming module %s:\n%s", m, logs)
		}
	}
	if strings.Contains(logs.String(), "absent.key") {
		t.Errorf("the key file was looked at:\n%s", logs)
	}
}

// TestRunFollowsFiles: Run publishes once every module's file was read, then a renewal of one
// module's file (rename over it, as deploy tools do) within a second, through fsnotify.
func TestRunFollowsFiles(t *testing.T) {
	now := time.Now()
	w := newWorld(t, now)
	var pub testwait.Latest[*source.Snapshot]
	// Real time: this is about fsnotify's events and the files source's real debounce.
	src := New(w.cfg.ModuleCerts(), slog.New(slog.DiscardHandler), clockwork.NewRealClock())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { src.Run(ctx, pub.Set); close(done) }()
	defer func() { cancel(); <-done }()

	violations := func(s *source.Snapshot) []string {
		var out []string
		for _, c := range s.Chains {
			for _, v := range c.Violations() {
				out = append(out, c.Module+":"+v)
			}
		}
		return out
	}
	first := pub.Await(t, "first publish", func(s *source.Snapshot) bool { return len(s.Status) == 5 })
	if v := violations(first); !slices.Equal(v, []string{"odd:client_auth"}) {
		t.Fatalf("violations %q, want odd:client_auth", v)
	}
	tmp := filepath.Join(w.dir, ".tmp")
	write(t, tmp, testcerts.Bundle(w.both, w.pki.Intermediate))
	if err := os.Rename(tmp, w.braket); err != nil {
		t.Fatal(err)
	}
	pub.Await(t, "renewed with clientAuth", func(s *source.Snapshot) bool { return len(violations(s)) == 0 && len(s.Chains) == 3 })
}

// TestModuleCertsConfig: only modules with a cert_file are watched (an inline cert is no
// file), each as a files: entry of usage client matching exactly its path.
func TestModuleCertsConfig(t *testing.T) {
	now := time.Now()
	inline := testcerts.New(testcerts.Options{CN: "inline", Now: now}).PEM()
	cfg, err := config.Parse(fmt.Appendf(nil, `
modules:
  a: {tls_config: {cert_file: "/etc/x/c*[1]?.pem", key_file: /etc/x/k.pem}}
  inline: {tls_config: {cert: %q, key: "k"}}
  none: {}
`, inline))
	if err != nil {
		t.Fatal(err)
	}
	got := cfg.ModuleCerts()
	if len(got) != 2 || got[0].Module != "a" || got[0].Files.Usage != config.UsageClient || !slices.Equal(got[0].Files.Paths, []string{`/etc/x/c\*\[1]\?.pem`}) || got[0].Inline != "" ||
		got[1].Module != "inline" || got[1].Inline != string(inline) || len(got[1].Files.Paths) != 0 {
		t.Fatalf("ModuleCerts = %+v", got)
	}
	if !config.MatchGlob(got[0].Files.Paths[0], "/etc/x/c*[1]?.pem") || config.MatchGlob(got[0].Files.Paths[0], "/etc/x/cx1y.pem") {
		t.Errorf("%q does not match exactly its path", got[0].Files.Paths[0])
	}
	if _, ok := Factory.Part(cfg); !ok {
		t.Error("Part: not configured")
	}
	if _, ok := Factory.Part(&config.Config{}); ok {
		t.Error("Part: configured without modules")
	}
}

// TestInlineCert: a module's inline tls_config.cert is exported like its cert_file would be
// (source client, its module, its owner labels, a client's policy), with no path; the module is
// up; its chain's verdict is made again when one of its certificates expires (the injected
// clock's timer, no wait).
func TestInlineCert(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	pki := testcerts.NewPKI("Inline", now)
	leaf := pki.Leaf(testcerts.Options{CN: "inline-client.test", Now: now, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		ExtKeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	cfg, err := config.Parse(fmt.Appendf(nil, "modules:\n  mtls:\n    tls_config: {cert: %q, key: k}\n    labels: {team: sre}\n",
		testcerts.Bundle(leaf, pki.Intermediate)))
	if err != nil {
		t.Fatal(err)
	}
	clock := clockwork.NewFakeClockAt(now)
	src := New(cfg.ModuleCerts(), slog.New(slog.DiscardHandler), clock)
	want := fmt.Sprintf(`# HELP cert_not_after_timestamp_seconds Certificate NotAfter as a Unix timestamp.
# TYPE cert_not_after_timestamp_seconds gauge
cert_not_after_timestamp_seconds{domain="inline-client.test",index="0",issuer="Inline Intermediate CA",module="mtls",serial=%[1]q,source="client"} %[2]v
# HELP cert_policy_violation 1 for a leaf certificate that breaks the policy named by the policy label.
# TYPE cert_policy_violation gauge
cert_policy_violation{domain="inline-client.test",index="0",issuer="Inline Intermediate CA",module="mtls",policy="client_auth",serial=%[1]q,source="client"} 1
`, leaf.Cert.SerialNumber.Text(16), float64(leaf.Cert.NotAfter.Unix()))
	snap := src.Once(context.Background())
	only := &source.Snapshot{}
	for _, c := range snap.Chains {
		c.Certs = c.Certs[:1]
		only.Chains = append(only.Chains, c)
	}
	if err := testutil.CollectAndCompare(snapCollector{only, now}, strings.NewReader(want), "cert_not_after_timestamp_seconds", "cert_policy_violation"); err != nil {
		t.Error(err)
	}
	if len(snap.Chains) != 1 || len(snap.Chains[0].Certs) != 2 || snap.Chains[0].Path != "" ||
		!slices.Equal(snap.Chains[0].Labels, certs.Labels{{Name: "team", Value: "sre"}}) || snap.Chains[0].Verify.Reason != "unknown_authority" {
		t.Fatalf("chains %+v", snap.Chains)
	}
	if len(snap.Status) != 1 || snap.Status[0].Name != "mtls" || !snap.Status[0].Up {
		t.Errorf("status %+v", snap.Status)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	snaps := make(chan *source.Snapshot, 4)
	go src.Run(ctx, func(s *source.Snapshot) { snaps <- s })
	if first := <-snaps; first.Chains[0].Verify.Reason != "unknown_authority" {
		t.Fatalf("first publish: %+v", first.Chains[0].Verify)
	}
	if err := clock.BlockUntilContext(ctx, 1); err != nil { // the leaf's NotAfter timer
		t.Fatal(err)
	}
	clock.Advance(time.Hour + time.Second)
	if next := <-snaps; next.Chains[0].Verify.Reason != "expired" {
		t.Errorf("after the leaf's NotAfter: %+v", next.Chains[0].Verify)
	}
}
