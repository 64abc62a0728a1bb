package logparse

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type legoFold struct {
	Runs     []LegoRun
	Outcomes []ACMEOutcome
	Orphans  uint64
	Cut      uint64
	Dropped  uint64
}

func foldLego(text string) legoFold {
	f := NewLegoFolder(time.UTC)
	var runs []LegoRun
	lines(text, func(b []byte) {
		f.Line(b)
		runs = append(runs, f.Runs()...)
	})
	runs = append(runs, f.Flush()...)
	return legoFold{runs, f.Outcomes(), f.Orphans, f.Cut, f.Dropped}
}

func checkRun(t *testing.T, r LegoRun) {
	t.Helper()
	switch {
	case r.Result == Failed && !isReason(r.Reason), r.Result != Failed && r.Reason != "":
		t.Fatalf("run %+v has reason %q", r, r.Reason)
	case r.Result != Attempted && r.Result != Renewed && r.Result != Failed && r.Result != NotDue:
		t.Fatalf("run result %q", r.Result)
	case len(r.Problems) > MaxProblems || len(r.Error) > MaxMessage || len(r.Name) > MaxName:
		t.Fatalf("run past its bounds: %d problems, %d bytes of error", len(r.Problems), len(r.Error))
	case r.End.Before(r.Start):
		t.Fatalf("run ends before it starts: %+v", r)
	}
}

// TestLegoRealLogs folds logs captured from real lego runs against Pebble
// (testdata/capture-lego.sh) and compares with golden JSON (go test -update rewrites them).
func TestLegoRealLogs(t *testing.T) {
	for _, path := range captured(t, "testdata/lego-*/*.log") {
		t.Run(path, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got := foldLego(string(data))
			for _, r := range got.Runs {
				checkRun(t, r)
			}
			for _, o := range got.Outcomes {
				checkOutcome(t, o)
			}
			if got.Orphans != 0 || got.Cut != 0 || got.Dropped != 0 {
				t.Errorf("real log: %d orphans, %d cut, %d dropped", got.Orphans, got.Cut, got.Dropped)
			}
			golden(t, strings.TrimSuffix(path, ".log")+".golden.json", got)
		})
	}
}

// TestLegoRealLogsMeaning pins what the golden files must say, per version.
func TestLegoRealLogsMeaning(t *testing.T) {
	type want struct {
		name     string
		renewal  bool
		result   Result
		reason   string
		problems int
		hook     bool
	}
	tests := map[string]want{
		"issue":         {"a.example.test", false, Renewed, "", 0, false},
		"issue-staging": {"s.example.test", false, Renewed, "", 0, false},
		"renew-success": {"a.example.test", true, Renewed, "", 0, false},
		"renew-not-due": {"a.example.test", false, NotDue, "", 0, false},
		// Pebble validates on 5002, lego listened on 5003: both names refused.
		"renew-connection":        {"a.example.test", true, Failed, "connection", 2, false},
		"renew-dns-wrong-address": {"a.example.test", true, Failed, "connection", 1, false},
		// Pebble reports a name without addresses, or SERVFAIL, as a connection problem
		// "could not resolve URL": DNS trouble.
		"renew-dns-no-address": {"a.example.test", true, Failed, "dns", 2, false},
		"renew-dns-servfail":   {"a.example.test", true, Failed, "dns", 1, false},
		"renew-hook-fails":     {"a.example.test", true, Renewed, "", 0, true},
		"issue-rejected":       {"blocked-domain.example", false, Failed, "acme_server", 1, false},
		// Failures before lego names the certificate: the run fails, no outcome is touched.
		"renew-no-account": {"", false, Failed, "account", 0, false},
		"issue-ca-down":    {"", false, Failed, "network", 0, false},
		// The renewal cron's run with the CA unreachable: the certificate is not named either.
		"renew-ca-down": {"", false, Failed, "network", 0, false},
	}
	// Captured with lego 4.9.1 only: the session that added them had no 4.30 binary.
	only491 := map[string]bool{"renew-ca-down": true}
	dirs, _ := filepath.Glob("testdata/lego-*")
	if len(dirs) == 0 {
		t.Fatal("no lego captures")
	}
	for _, dir := range dirs {
		for file, w := range tests {
			path := filepath.Join(dir, file+".log")
			if only491[file] && filepath.Base(dir) != "lego-4.9.1" {
				continue
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got := foldLego(string(data))
			if len(got.Runs) != 1 {
				t.Errorf("%s: %d runs, want 1", path, len(got.Runs))
				continue
			}
			r := got.Runs[0]
			g := want{r.Name, r.Renewal, r.Result, r.Reason, len(r.Problems), r.Hook != ""}
			if g != w {
				t.Errorf("%s: run\n got %+v\nwant %+v", path, g, w)
			}
			if w.name == "" {
				if len(got.Outcomes) != 0 {
					t.Errorf("%s: outcomes %+v", path, got.Outcomes)
				}
				continue
			}
			if len(got.Outcomes) != 1 {
				t.Fatalf("%s: outcomes %+v", path, got.Outcomes)
			}
			o := got.Outcomes[0]
			if o.Name != w.name || o.Result != w.result || o.Reason != w.reason || len(o.Problems) != w.problems ||
				(o.Hook != "") != w.hook || w.result == Renewed && !o.LastSuccess.Equal(r.End) {
				t.Errorf("%s: outcome %+v", path, o)
			}
		}
	}
}

// One log holding several invocations, as cron appends them: each run is cut at its outcome,
// per-name outcomes accumulate, and a killed run is completed when the next one starts.
func TestLegoFolderRuns(t *testing.T) {
	var text strings.Builder
	for _, f := range []string{"issue", "renew-connection", "renew-success", "renew-not-due", "renew-hook-fails", "issue-staging"} {
		data, err := os.ReadFile("testdata/lego-4.9.1/" + f + ".log")
		if err != nil {
			t.Fatal(err)
		}
		text.Write(data)
	}
	// killed after it started: only its first lines, then the next invocation.
	text.WriteString("2026/12/02 08:00:00 [INFO] [a.example.test] acme: Trying renewal with 2000 hours remaining\n")
	text.WriteString("2026/12/02 08:00:00 [INFO] [a.example.test, www.a.example.test] acme: Obtaining bundled SAN certificate\n")
	text.WriteString("2026/12/02 09:00:00 [INFO] [a.example.test] acme: Trying renewal with 1999 hours remaining\n")
	text.WriteString("2026/12/02 09:00:00 [INFO] [a.example.test, www.a.example.test] acme: Obtaining bundled SAN certificate\n")
	text.WriteString("2026/12/02 09:00:01 acme: error: 500 :: POST :: https://127.0.0.1:14000/order-plz :: urn:ietf:params:acme:error:serverInternal :: boom\n")
	got := foldLego(text.String())
	var results []Result
	for _, r := range got.Runs {
		checkRun(t, r)
		results = append(results, r.Result)
	}
	want := []Result{Renewed, Failed, Renewed, NotDue, Renewed, Renewed, Attempted, Failed}
	if !equalResults(results, want) {
		t.Fatalf("runs %v, want %v", results, want)
	}
	a := got.Outcomes[0]
	if a.Name != "a.example.test" || a.Attempts != 6 || a.Failures != 1 || a.Result != Failed || a.Reason != "acme_server" {
		t.Errorf("a.example.test: %+v", a)
	}
	if s := got.Outcomes[1]; s.Name != "s.example.test" || s.Result != Renewed || s.Attempts != 1 {
		t.Errorf("s.example.test: %+v", s)
	}
}

func equalResults(a, b []Result) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Wordings of lego versions not captured here, from their source (cmd/cmd_renew.go,
// cmd/hook.go, certificate/errors.go of 4.30.0).
func TestLegoFolderWordings(t *testing.T) {
	t0 := "2026/12/02 03:00:00 "
	tests := []struct {
		name   string
		log    string
		result Result
		reason string
		sleep  time.Duration
		hook   string
	}{
		{"4.30 dynamic renewal not due",
			t0 + "[INFO] [a.example] The certificate expires at 2027-02-28T00:00:00Z, the renewal can be performed in 719h0m0s: no renewal.",
			NotDue, "", 0, ""},
		{"4.30 ARI wait then renewal, errors.Join problems",
			t0 + "[INFO] [a.example] acme: renewalInfo endpoint indicates that renewal is needed\n" +
				t0 + "[INFO] [a.example] Sleeping 2h0m0s until renewal time 2026-12-02 05:00:00 +0000 UTC\n" +
				t0 + "[INFO] [a.example] acme: Trying renewal with 700 hours remaining\n" +
				t0 + "[INFO] [a.example, b.example] acme: Obtaining bundled SAN certificate\n" +
				t0 + "error: one or more domains had a problem:\n" +
				"b.example: acme: error: 403 :: urn:ietf:params:acme:error:caa :: CAA record for b.example prevents issuance\n" +
				"a.example: acme: error: 400 :: urn:ietf:params:acme:error:dns :: DNS problem: NXDOMAIN looking up A for a.example",
			Failed, "caa", 2 * time.Hour, ""},
		{"4.30 random delay, renewal, hook failure through log.Fatal",
			t0 + "[INFO] [a.example] acme: Trying renewal with 400 hours remaining\n" +
				t0 + "[INFO] renewal: random delay of 3m14.5s\n" +
				t0 + "[INFO] [a.example] acme: Obtaining bundled SAN certificate\n" +
				t0 + "[INFO] [a.example] Server responded with a certificate for the preferred certificate chains \"ISRG Root X1\".\n" +
				t0 + "wait command: exit status 2",
			Renewed, "", 3*time.Minute + 14500*time.Millisecond, "wait command: exit status 2"},
		{"rate limited order",
			t0 + "[INFO] [a.example] acme: Obtaining bundled SAN certificate\n" +
				t0 + "Could not obtain certificates:\n\tacme: error: 429 :: POST :: https://acme-v02.api.letsencrypt.org/acme/new-order :: urn:ietf:params:acme:error:rateLimited :: too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s",
			Failed, "rate_limited", 0, ""},
		{"certificate file unreadable before any attempt",
			t0 + "Error while loading the certificate for domain a.example\n\topen /var/lib/lego/certificates/a.example.crt: permission denied",
			Failed, "config", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := foldLego(tt.log)
			if len(got.Runs) != 1 {
				t.Fatalf("%d runs", len(got.Runs))
			}
			r := got.Runs[0]
			checkRun(t, r)
			var sleep time.Duration
			if !r.SleepUntil.IsZero() {
				sleep = r.SleepUntil.Sub(r.Start)
			}
			if r.Result != tt.result || r.Reason != tt.reason || sleep != tt.sleep || r.Hook != tt.hook {
				t.Errorf("run %+v", r)
			}
		})
	}
}

func TestParseLegoLine(t *testing.T) {
	r, ok := parseLegoLine("2026/12/02 07:31:26 [INFO] [a.example.test, www.a.example.test] acme: Obtaining bundled SAN certificate", time.UTC)
	if !ok || r.Level != "INFO" || len(r.Domains) != 2 || r.Domains[1] != "www.a.example.test" || r.Message != "acme: Obtaining bundled SAN certificate" ||
		!r.Time.Equal(time.Date(2026, 12, 2, 7, 31, 26, 0, time.UTC)) {
		t.Errorf("%+v %v", r, ok)
	}
	r, ok = parseLegoLine("2026/12/02 07:31:51 [a.example.test] The certificate expires in 89 days: no renewal.", time.UTC)
	if !ok || r.Level != "" || len(r.Domains) != 1 {
		t.Errorf("%+v %v", r, ok)
	}
	for _, bad := range []string{"", "2026/12/02", "2026-12-02 07:31:51 x", "2026/13/02 07:31:51 x", "\tacme: error: 400", "[INFO] x"} {
		if _, ok := parseLegoLine(bad, time.UTC); ok {
			t.Errorf("parseLegoLine(%q) accepted", bad)
		}
	}
}

func TestLegoFolderBounds(t *testing.T) {
	var b strings.Builder
	b.WriteString("orphan before any record\n")
	b.WriteString("2026/12/02 07:31:51 [INFO] [a.example] acme: Obtaining bundled SAN certificate\n")
	b.WriteString("2026/12/02 07:31:52 error: one or more domains had a problem:\n")
	for range MaxProblems + 20 {
		b.WriteString("[a.example] acme: error: 400 :: urn:ietf:params:acme:error:dns :: " + strings.Repeat("x", 40) + "\n")
	}
	b.WriteString(strings.Repeat("y", 3*MaxLogLine) + "\n")
	got := foldLego(b.String())
	r := got.Runs[0]
	if got.Orphans != 1 || got.Cut != 1 || len(r.Error) > MaxMessage || r.Reason != "dns" || len(got.Outcomes[0].Problems) > MaxProblems {
		t.Errorf("orphans %d cut %d error %d bytes reason %q", got.Orphans, got.Cut, len(r.Error), r.Reason)
	}
}

func FuzzLegoFolder(f *testing.F) {
	for _, name := range []string{"renew-connection", "renew-hook-fails", "issue-rejected"} {
		data, err := readTestdata("testdata/lego-4.9.1/" + name + ".log")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add("2026/12/02 03:00:00 [INFO] [a] acme: Trying renewal with 1 hours remaining\n2026/12/02 03:00:00 [INFO] [] Sleeping 1h until renewal time x\nwait command: exit status 1\n")
	f.Fuzz(func(t *testing.T, text string) {
		got := foldLego(text)
		for _, r := range got.Runs {
			checkRun(t, r)
		}
		for _, o := range got.Outcomes {
			checkOutcome(t, o)
		}
		// The log going quiet at any line (Settle) keeps the same bounds.
		sf := NewLegoFolder(time.UTC)
		lines(text, func(b []byte) {
			sf.Line(b)
			if len(b)%2 == 1 {
				sf.Settle()
			}
		})
		for _, r := range sf.Flush() {
			checkRun(t, r)
		}
		for _, o := range sf.Outcomes() {
			checkOutcome(t, o)
		}
	})
}

// TestLegoSettle: a quiet log folds its last record at once (the outcome of a run that just
// ended counts before the next run starts), and ≤4.9's "exit status 1" after a renew hook,
// printed once the hook is done, still marks the saved certificate's hook failed.
func TestLegoSettle(t *testing.T) {
	for _, dir := range []string{"testdata/lego-4.9.1", "testdata/lego-4.30.0"} {
		data, err := os.ReadFile(dir + "/renew-hook-fails.log")
		if err != nil {
			t.Fatal(err)
		}
		text := strings.TrimSuffix(string(data), "\n")
		i := strings.LastIndexByte(text, '\n')
		head, last := text[:i], text[i+1:]
		f := NewLegoFolder(time.UTC)
		lines(head, f.Line)
		f.Settle()
		o, ok := f.Outcome("a.example.test")
		if !ok || o.Result != Renewed || o.Hook != "" {
			t.Fatalf("%s: settled before the hook's status: %+v", dir, o)
		}
		f.Line([]byte(last))
		f.Settle()
		o, _ = f.Outcome("a.example.test")
		if o.Result != Renewed || o.Hook != "exit status 1" && o.Hook != "wait command: exit status 1" {
			t.Errorf("%s: after the hook's status: %+v", dir, o)
		}
		if runs := f.Flush(); len(runs) != 1 || runs[0].Hook == "" || f.Orphans != 0 {
			t.Errorf("%s: runs %+v, %d orphans", dir, runs, f.Orphans)
		}
	}
}
