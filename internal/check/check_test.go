package check

import (
	"bytes"
	"context"
	"encoding/pem"
	"flag"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/demo"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/inventory"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/registry"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testserver"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// world writes certificates into a temp dir: name → (age, lifetime).
type world struct {
	t   *testing.T
	dir string
	pki *testcerts.PKI
	ca  string
}

func newWorld(t *testing.T) *world {
	w := &world{t: t, dir: t.TempDir(), pki: testcerts.NewPKI("Check", now)}
	w.ca = filepath.Join(w.dir, "ca.pem")
	w.write("ca.pem", w.pki.Root.PEM())
	return w
}

func (w *world) write(name string, data []byte) {
	if err := os.WriteFile(filepath.Join(w.dir, name), data, 0o644); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) leaf(name string, serial int64, age, life time.Duration) *testcerts.Cert {
	return w.pki.Leaf(testcerts.Options{DNSNames: []string{name}, Serial: big.NewInt(serial), Now: now, NotBefore: now.Add(-age), NotAfter: now.Add(-age + life)})
}

func (w *world) cert(name string, serial int64, age, life time.Duration) {
	w.write(name+".pem", testcerts.Bundle(w.leaf(name, serial, age, life), w.pki.Intermediate))
}

func (w *world) config(yaml string) *config.Config {
	cfg, err := config.Parse([]byte(strings.NewReplacer("$DIR", w.dir, "$CA", w.ca).Replace(yaml)))
	if err != nil {
		w.t.Fatal(err)
	}
	return cfg
}

func run(t *testing.T, cfg *config.Config, o Options) (int, string) {
	t.Helper()
	if o.Clock == nil {
		o.Clock = clockwork.NewFakeClockAt(now)
	}
	if o.Thresholds == (inventory.Thresholds{}) {
		o.Thresholds = inventory.DefaultThresholds
	}
	o.Logger = slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out bytes.Buffer
	code := Run(ctx, cfg, registry.Sources, o, &out)
	return code, out.String()
}

// TestExitCodes: one world per state, each giving its Nagios code.
func TestExitCodes(t *testing.T) {
	filesOnly := "files: [{paths: [\"$DIR/*.pem\"], exclude: [\"$DIR/ca.pem\"], ca_file: $CA}]"
	for _, tc := range []struct {
		name  string
		certs map[string][2]time.Duration // name → age, lifetime
		yaml  string
		th    inventory.Thresholds
		want  int
		line  string
	}{
		{"ok", map[string][2]time.Duration{"healthy": {20 * day, 90 * day}}, filesOnly, inventory.Thresholds{}, StatusOK,
			"CERTIFICATES OK - 0 expired, 0 critical, 0 warning, 1 ok; 0 source problem(s)"},
		{"short-lived on schedule", map[string][2]time.Duration{"short": {day, 160 * time.Hour}}, filesOnly, inventory.Thresholds{}, StatusOK,
			"CERTIFICATES OK - 0 expired, 0 critical, 0 warning, 1 ok; 0 source problem(s)"},
		{"warning", map[string][2]time.Duration{"healthy": {20 * day, 90 * day}, "six": {84 * day, 90 * day}}, filesOnly, inventory.Thresholds{}, StatusWarning,
			"CERTIFICATES WARNING - 0 expired, 0 critical, 1 warning, 1 ok; 0 source problem(s)"},
		{"critical", map[string][2]time.Duration{"six": {84 * day, 90 * day}, "two": {88 * day, 90 * day}}, filesOnly, inventory.Thresholds{}, StatusCritical,
			"CERTIFICATES CRITICAL - 0 expired, 1 critical, 1 warning, 0 ok; 0 source problem(s)"},
		{"expired", map[string][2]time.Duration{"old": {91 * day, 90 * day}}, filesOnly, inventory.Thresholds{}, StatusCritical,
			"CERTIFICATES CRITICAL - 1 expired, 0 critical, 0 warning, 0 ok; 0 source problem(s)"},
		{"thresholds from flags", map[string][2]time.Duration{"six": {84 * day, 90 * day}}, filesOnly,
			inventory.Thresholds{Warning: 14 * day, Critical: 10 * day, Grace: 12 * time.Hour}, StatusCritical,
			"CERTIFICATES CRITICAL - 0 expired, 1 critical, 0 warning, 0 ok; 0 source problem(s)"},
		{"unknown: nothing found", nil, "files: [{paths: [\"$DIR/missing/*.pem\"]}]", inventory.Thresholds{}, StatusUnknown,
			"CERTIFICATES UNKNOWN - 0 expired, 0 critical, 0 warning, 0 ok; 2 source problem(s)"},
		{"unknown: a file cannot be read", map[string][2]time.Duration{"healthy": {20 * day, 90 * day}},
			"files: [{paths: [\"$DIR/*.pem\", \"$DIR/broken.crt\"], exclude: [\"$DIR/ca.pem\"], ca_file: $CA}]", inventory.Thresholds{}, StatusUnknown,
			"CERTIFICATES UNKNOWN - 0 expired, 0 critical, 0 warning, 1 ok; 1 source problem(s)"},
		{"warning outranks unknown", map[string][2]time.Duration{"six": {84 * day, 90 * day}},
			"files: [{paths: [\"$DIR/*.pem\", \"$DIR/broken.crt\"], exclude: [\"$DIR/ca.pem\"], ca_file: $CA}]", inventory.Thresholds{}, StatusWarning,
			"CERTIFICATES WARNING - 0 expired, 0 critical, 1 warning, 0 ok; 1 source problem(s)"},
		{"warning: certbot watched but never ran", map[string][2]time.Duration{"healthy": {20 * day, 90 * day}},
			"files: [{paths: [\"$DIR/*.pem\"], exclude: [\"$DIR/ca.pem\"], ca_file: $CA}]\ncertbot: {config_dir: $DIR, log_file: $DIR/letsencrypt.log}", inventory.Thresholds{}, StatusWarning,
			"CERTIFICATES WARNING - 0 expired, 0 critical, 0 warning, 1 ok; certbot has not run; 2 source problem(s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			serial := int64(1)
			for name, d := range tc.certs {
				w.cert(name, serial, d[0], d[1])
				serial++
			}
			w.write("broken.crt", []byte("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n"))
			code, out := run(t, w.config(tc.yaml), Options{Thresholds: tc.th})
			if code != tc.want || strings.SplitN(out, "\n", 2)[0] != tc.line {
				t.Errorf("exit %d, want %d; output:\n%s", code, tc.want, out)
			}
		})
	}
}

// TestProbe: a served chain that lacks its intermediate is critical, as CertificateVerifyFailed.
func TestProbe(t *testing.T) {
	w := newWorld(t)
	leaf := w.pki.Leaf(testcerts.Options{DNSNames: []string{"www.check.test"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Now: now,
		NotBefore: now.Add(-10 * day), NotAfter: now.Add(80 * day)})
	good, bad := testserver.TLS(t, leaf.TLS(w.pki.Intermediate)).Addr, testserver.TLS(t, leaf.TLS()).Addr
	yaml := "targets: [{target: '%s', module: m, server_name: www.check.test}]\nmodules: {m: {tls_config: {ca_file: $CA}, timeout: 5s}}"
	for addr, want := range map[string]int{good: StatusOK, bad: StatusCritical} {
		code, out := run(t, w.config(strings.Replace(yaml, "%s", addr, 1)), Options{})
		if code != want {
			t.Errorf("%s: exit %d, want %d:\n%s", addr, code, want, out)
		}
		if want == StatusCritical && !strings.Contains(out, "chain does not verify: incomplete_chain") {
			t.Errorf("reason missing:\n%s", out)
		}
	}
	// A target that refuses connections is unknown: its certificates cannot be judged.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	if code, out := run(t, w.config(strings.Replace(yaml, "%s", closed, 1)), Options{}); code != StatusUnknown {
		t.Errorf("closed port: exit %d:\n%s", code, out)
	}
}

// TestLeafAloneInFile: a leaf kept alone in its file, no ca_file (issue 20 item 9). A private
// CA's leaf, naming no issuer URL, is an unknown authority, which CertificateVerifyFailed does
// not page for in a file: a healthy 200-day certificate is OK, not critical. A leaf naming its
// issuer's URL (a public CA's, served from this file) lacks its intermediate: critical, as
// the rule pages.
func TestLeafAloneInFile(t *testing.T) {
	w := newWorld(t)
	private := testcerts.New(testcerts.Options{CN: "Private Root CA", IsCA: true, Now: now, NotAfter: now.Add(3650 * day)})
	w.write("private.pem", testcerts.New(testcerts.Options{DNSNames: []string{"private.check.test"}, Issuer: private,
		NotBefore: now.Add(-10 * day), NotAfter: now.Add(190 * day)}).PEM())
	w.write("public.pem", w.leaf("public.check.test", 1, 10*day, 90*day).PEM())
	for _, tc := range []struct {
		file, line, problem string
		want                int
	}{
		{"private.pem", "CERTIFICATES OK - 0 expired, 0 critical, 0 warning, 1 ok; 0 source problem(s)", "", StatusOK},
		{"public.pem", "CERTIFICATES CRITICAL - 0 expired, 1 critical, 0 warning, 0 ok; 0 source problem(s)",
			"chain does not verify: incomplete_chain", StatusCritical},
	} {
		code, out := run(t, w.config("files: [{paths: [\"$DIR/"+tc.file+"\"]}]"), Options{})
		if code != tc.want || strings.SplitN(out, "\n", 2)[0] != tc.line || !strings.Contains(out, tc.problem) {
			t.Errorf("%s: exit %d, want %d with %q; output:\n%s", tc.file, code, tc.want, tc.problem, out)
		}
	}
}

// TestJSONGolden fixes the --output=json contract.
func TestJSONGolden(t *testing.T) {
	w := newWorld(t)
	w.cert("healthy", 1, 20*day, 90*day)
	w.cert("six-days", 2, 84*day, 90*day)
	w.cert("expired", 3, 91*day, 90*day)
	cfg := w.config("files: [{paths: [\"$DIR/*.pem\", \"$DIR/nothing/*.crt\"], exclude: [\"$DIR/ca.pem\"], ca_file: $CA}]")
	code, out := run(t, cfg, Options{JSON: true})
	if code != StatusCritical {
		t.Errorf("exit %d", code)
	}
	got := []byte(strings.ReplaceAll(out, w.dir, "$DIR"))
	golden := filepath.Join("testdata", "check.json.golden")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("JSON differs from %s (go test ./internal/check -update to accept):\n%s", golden, got)
	}
}

// TestDemoWorld runs check on the demo: certbot's failed renewals are joined to the lineages'
// rows and every state of the demo shows.
func TestDemoWorld(t *testing.T) {
	start := time.Now()
	w, err := demo.New(start)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cfg, err := config.Load(w.Config)
	if err != nil {
		t.Fatal(err)
	}
	code, out := run(t, cfg, Options{Clock: clockwork.NewFakeClockAt(start)})
	if code != StatusCritical {
		t.Errorf("exit %d", code)
	}
	for _, want := range []string{
		"CERTIFICATES CRITICAL - 1 expired, 3 critical, 6 warning, 7 ok; 1 CRL problem(s); 0 source problem(s)", // the Caddy names twice: stored and served
		"/crl/clients-crl.pem #0 (Demo Intermediate CA): stale: nextUpdate passed 1h ago",
		"renewal failed: unauthorized", // the lego host
		"renewal failed: connection",
		"renewal failed: dns",
		"issued by a staging/test CA",
		"chain does not verify: incomplete_chain",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	// The Caddy host's failing name, from its storage and its log.
	if !slices.ContainsFunc(strings.Split(out, "\n"), func(l string) bool {
		return strings.Contains(l, "caddy-failing.demo.test.crt") && strings.HasSuffix(l, "renewal failed: dns")
	}) {
		t.Errorf("no row of caddy-failing.demo.test failing with dns in:\n%s", out)
	}
}

func TestThresholdFlags(t *testing.T) {
	for _, tc := range []struct{ warn, crit, err string }{
		{"7d", "3d", ""},
		{"30d", "36h", ""},
		{"7d", "8d", "--critical (8d) must not be longer than --warning (7d)"},
		{"7 days", "3d", `--warning: unknown unit " days" in duration "7 days"`},
		{"7d", "", `--critical: empty duration string`},
	} {
		th, err := Thresholds(tc.warn, tc.crit)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s/%s: error %v, want %q", tc.warn, tc.crit, err, tc.err)
			}
			continue
		}
		if err != nil || th.Grace != inventory.DefaultThresholds.Grace {
			t.Errorf("%s/%s: %+v, %v", tc.warn, tc.crit, th, err)
		}
	}
	if th, _ := Thresholds("30d", "36h"); th.Warning != 30*day || th.Critical != 36*time.Hour {
		t.Errorf("parsed %+v", th)
	}
}

// TestTableGolden fixes the table: time left as on /certificates (rounded down, hours and
// minutes under a day), NOT AFTER in RFC 3339 as every other date the exporter writes.
func TestTableGolden(t *testing.T) {
	w := newWorld(t)
	w.cert("healthy", 1, 20*day, 90*day)
	w.cert("hours", 2, 90*day-(5*time.Hour+12*time.Minute), 90*day)
	w.cert("expired", 3, 91*day, 90*day)
	cfg := w.config("files: [{paths: [\"$DIR/*.pem\"], exclude: [\"$DIR/ca.pem\"], ca_file: $CA}]")
	code, out := run(t, cfg, Options{})
	if code != StatusCritical {
		t.Errorf("exit %d", code)
	}
	// The column widths depend on the temporary directory's length: cells are compared with
	// their padding cut to two spaces.
	want := `CERTIFICATES CRITICAL - 1 expired, 1 critical, 0 warning, 1 ok; 0 source problem(s)
SEVERITY  TIME LEFT  NOT AFTER  DOMAIN  WHERE  ISSUER  PROBLEMS
expired  expired 1.0 days ago  2026-02-28T12:00:00Z  expired  $DIR/expired.pem  Check Intermediate CA
critical  5h 12m  2026-03-01T17:12:00Z  hours  $DIR/hours.pem  Check Intermediate CA  renewal overdue since 2026-01-30T17:12:00Z
ok  70.0 days  2026-05-10T12:00:00Z  healthy  $DIR/healthy.pem  Check Intermediate CA
`
	out = regexp.MustCompile(`  +`).ReplaceAllString(strings.ReplaceAll(out, w.dir, "$DIR"), "  ")
	if got := regexp.MustCompile(`(?m) +$`).ReplaceAllString(out, ""); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

// TestDownSource: a source that is down says why, next to its name.
func TestDownSource(t *testing.T) {
	w := newWorld(t)
	code, out := run(t, w.config(`files: [{paths: ["$DIR/missing/*.pem"]}]`), Options{})
	want := `CERTIFICATES UNKNOWN - 0 expired, 0 critical, 0 warning, 0 ok; 2 source problem(s)
source files $DIR/missing/*.pem is down: $DIR/missing/*.pem: no file matches
file $DIR/missing/*.pem: no_match: no file matches
`
	if got := strings.ReplaceAll(out, w.dir, "$DIR"); code != StatusUnknown || got != want {
		t.Errorf("exit %d, output:\n%s\nwant:\n%s", code, got, want)
	}
}

// TestWhere: the table's WHERE column names a file, a served address, a probe module's
// client certificate file with its module, or a Kubernetes Secret's key.
func TestWhere(t *testing.T) {
	for _, tc := range []struct {
		row  inventory.Row
		want string
	}{
		{inventory.Row{Source: "file", Path: "/etc/ssl/a.pem", Index: 1}, "/etc/ssl/a.pem #1"},
		{inventory.Row{Source: "probe", Target: "a.example:443", IP: "192.0.2.1"}, "a.example:443 (192.0.2.1)"},
		{inventory.Row{Source: "client", Path: "/etc/prom/client.pem", Module: "mtls"}, "/etc/prom/client.pem (client certificate of module mtls)"},
		{inventory.Row{Source: "client", Module: "inline"}, "inline tls_config.cert (client certificate of module inline)"},
		{inventory.Row{Source: "kubernetes", Namespace: "shop", Secret: "web-tls", Key: "tls.crt", Index: 1}, "Secret shop/web-tls key tls.crt #1"},
		{inventory.Row{Source: "kubernetes", Namespace: "shop", ConfigMap: "trust", Key: "ca.crt", Index: 2}, "ConfigMap shop/trust key ca.crt #2"},
	} {
		if got := where(tc.row); got != tc.want {
			t.Errorf("where(%+v) = %q, want %q", tc.row, got, tc.want)
		}
	}
}

// crlWorld writes CRL files: crl.pem with a fresh list (two revoked) and a stale one, fresh.crl
// (DER) with a fresh list, half.pem with a good list and a block that does not parse.
func crlWorld(t *testing.T) *world {
	w := newWorld(t)
	crlPEM := func(der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}) }
	fresh := testcerts.CRL(w.pki.Intermediate, now.Add(-day), now.Add(6*day), big.NewInt(7), big.NewInt(8))
	// A 24-hour list 1h10m before its nextUpdate: 1/20 of its validity is 1h12m.
	stale := testcerts.CRL(w.pki.Root, now.Add(-22*time.Hour-50*time.Minute), now.Add(time.Hour+10*time.Minute))
	w.write("crl.pem", slices.Concat(crlPEM(fresh), crlPEM(stale)))
	w.write("fresh.crl", fresh)
	w.write("half.pem", slices.Concat(crlPEM(fresh), pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: []byte{0x30, 0x03, 1, 2, 3}})))
	return w
}

// TestCRLExitCodes: a stale CRL is critical, as CertificateRevocationListStale; one that cannot
// be read is a warning (known to be wrong: not an unknown); each is named on a line of its own;
// CRL files alone, all fresh, are OK, not "nothing found".
func TestCRLExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name, paths string
		want        int
		line        string
		lines       []string
	}{
		{"fresh CRLs only", `"$DIR/fresh.crl"`, StatusOK,
			"CERTIFICATES OK - 0 expired, 0 critical, 0 warning, 0 ok; 0 source problem(s)", nil},
		{"fresh CRL and a healthy certificate", `"$DIR/fresh.crl", "$DIR/healthy.pem"`, StatusOK,
			"CERTIFICATES OK - 0 expired, 0 critical, 0 warning, 1 ok; 0 source problem(s)", nil},
		{"stale", `"$DIR/crl.pem", "$DIR/healthy.pem"`, StatusCritical,
			"CERTIFICATES CRITICAL - 0 expired, 0 critical, 0 warning, 1 ok; 1 CRL problem(s); 0 source problem(s)",
			[]string{"crl $DIR/crl.pem #1 (Check Root CA): stale: nextUpdate in 1h 10m, not replaced yet"}},
		{"a block that does not parse", `"$DIR/half.pem"`, StatusWarning,
			"CERTIFICATES WARNING - 0 expired, 0 critical, 0 warning, 0 ok; 1 CRL problem(s); 1 source problem(s)",
			[]string{"crl $DIR/half.pem: cannot be read: PEM block 1 (X509 CRL): x509: malformed tbs crl"}},
		{"stale and a critical certificate", `"$DIR/crl.pem", "$DIR/two.pem"`, StatusCritical,
			"CERTIFICATES CRITICAL - 0 expired, 1 critical, 0 warning, 0 ok; 1 CRL problem(s); 0 source problem(s)",
			[]string{"crl $DIR/crl.pem #1 (Check Root CA): stale: nextUpdate in 1h 10m, not replaced yet"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := crlWorld(t)
			w.cert("healthy", 1, 20*day, 90*day)
			w.cert("two", 2, 88*day, 90*day)
			code, out := run(t, w.config("files: [{paths: ["+tc.paths+"], ca_file: $CA}]"), Options{})
			out = strings.ReplaceAll(out, w.dir, "$DIR")
			lines := strings.Split(out, "\n")
			if code != tc.want || lines[0] != tc.line {
				t.Errorf("exit %d, want %d with %q; output:\n%s", code, tc.want, tc.line, out)
			}
			for _, l := range tc.lines {
				if !slices.Contains(lines, l) {
					t.Errorf("no line %q in:\n%s", l, out)
				}
			}
			if tc.lines == nil && strings.Contains(out, "crl ") {
				t.Errorf("a CRL line without a CRL problem:\n%s", out)
			}
		})
	}
}

// TestCRLGolden fixes check's CRL output, the table (--all lists the fresh lists too) and the
// JSON's crls[], on a files entry of CRL files only with owner labels.
func TestCRLGolden(t *testing.T) {
	w := crlWorld(t)
	cfg := w.config(`files: [{paths: ["$DIR/*.pem", "$DIR/*.crl"], exclude: ["$DIR/ca.pem"], labels: {team: pki}}]`)
	for _, tc := range []struct {
		golden string
		o      Options
	}{
		{"check_crl.txt.golden", Options{All: true}},
		{"check_crl.json.golden", Options{JSON: true}},
	} {
		code, out := run(t, cfg, tc.o)
		if code != StatusCritical {
			t.Errorf("%s: exit %d", tc.golden, code)
		}
		got := []byte(strings.ReplaceAll(out, w.dir, "$DIR"))
		golden := filepath.Join("testdata", tc.golden)
		if *update {
			if err := os.WriteFile(golden, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("output differs from %s (go test ./internal/check -update to accept):\n%s", golden, got)
		}
	}
}
