package logparse

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files of the run folder")

// foldText folds a whole log text into runs, as the certbot source does.
func foldText(text string) []Run {
	a := NewAssembler(time.UTC, 1<<20)
	var f Folder
	var runs []Run
	add := func(r Record) {
		if done := f.Add(r); done != nil {
			runs = append(runs, *done)
		}
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if r, ok := a.Line(sc.Bytes()); ok {
			add(r)
		}
	}
	if r, ok := a.Flush(); ok {
		add(r)
	}
	if done := f.Flush(); done != nil {
		runs = append(runs, *done)
	}
	return runs
}

// TestFoldRealLogs folds logs captured from real certbot runs against Pebble
// (testdata/capture.sh) and compares with golden JSON (go test -update rewrites them).
func TestFoldRealLogs(t *testing.T) {
	logs, err := filepath.Glob("testdata/certbot-*/*.log")
	if err != nil || len(logs) == 0 {
		t.Fatalf("no captured logs: %v", err)
	}
	for _, path := range logs {
		t.Run(path, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(foldText(string(data)), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden := strings.TrimSuffix(path, ".log") + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(string(want)) != string(got) {
				t.Errorf("fold of %s differs from %s:\n%s", path, golden, got)
			}
		})
	}
}

// TestFoldRealLogsMeaning pins what the golden files must say, so that regenerating them
// cannot silently accept a wrong result.
func TestFoldRealLogsMeaning(t *testing.T) {
	tests := []struct {
		file           string
		failed         bool
		runReason      string
		result         Result
		reason         string
		hooks          []string // lineage hooks then run hooks, by kind
		dryRun, issued bool
	}{
		{"issue", false, "", Renewed, "", nil, false, true},
		{"renew-success", false, "", Renewed, "", nil, false, true},
		{"renew-not-due", false, "", NotDue, "", nil, false, false},
		{"renew-dry-run", false, "", Renewed, "", nil, true, false},
		{"renew-connection", true, "connection", Failed, "connection", nil, false, false},
		{"renew-dns", true, "dns", Failed, "dns", []string{"pre", "post"}, false, false},
		{"renew-deploy-hook-fails", false, "", Renewed, "", []string{"deploy"}, false, true},
		{"renew-pre-post-hook-fail", false, "", Renewed, "", []string{"pre", "deploy", "post"}, false, true},
		{"renew-parsefail", true, "config", NotDue, "", nil, false, false},
		{"renew-lock", true, "lock", "", "", nil, false, false},
	}
	for _, tt := range tests {
		data, err := os.ReadFile("testdata/certbot-2.1.0/" + tt.file + ".log")
		if err != nil {
			t.Fatal(err)
		}
		runs := foldText(string(data))
		if len(runs) != 1 {
			t.Fatalf("%s: %d runs, want 1", tt.file, len(runs))
		}
		r := runs[0]
		if r.Version != "2.1.0" || r.Failed != tt.failed || r.Reason != tt.runReason || r.DryRun != tt.dryRun {
			t.Errorf("%s: run version=%q failed=%v reason=%q dry=%v", tt.file, r.Version, r.Failed, r.Reason, r.DryRun)
		}
		o := r.Outcome("a.example.test")
		if tt.result == "" {
			if o != nil {
				t.Errorf("%s: unexpected outcome %+v", tt.file, o)
			}
			continue
		}
		if o == nil || o.Result != tt.result || o.Reason != tt.reason {
			t.Errorf("%s: outcome %+v, want result %s reason %q", tt.file, o, tt.result, tt.reason)
			continue
		}
		var hooks []string
		for _, h := range append(append([]HookFailure{}, o.Hooks...), r.Hooks...) {
			hooks = append(hooks, h.Hook)
		}
		if !reflect.DeepEqual(hooks, tt.hooks) {
			t.Errorf("%s: hooks %v, want %v", tt.file, hooks, tt.hooks)
		}
	}
	// The parse failure names the broken lineage.
	data, _ := os.ReadFile("testdata/certbot-2.1.0/renew-parsefail.log")
	if o := foldText(string(data))[0].Outcome("broken.example.test"); o == nil || o.Result != Failed || o.Reason != "config" {
		t.Errorf("broken conf outcome = %+v", o)
	}
}

func readTestdata(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}

// A hostile or broken log cannot grow one run past its bounds; what is cut is counted.
func TestFolderBounds(t *testing.T) {
	var b strings.Builder
	line := func(logger, msg string) {
		fmt.Fprintf(&b, "2026-11-25 00:00:00,000:INFO:%s:%s\n", logger, msg)
	}
	line("certbot._internal.main", "certbot version: 2.1.0")
	for i := range MaxOutcomes + 3 {
		line("certbot._internal.renewal", fmt.Sprintf("Processing /etc/letsencrypt/renewal/l%d.conf", i))
	}
	// The last lineage started (beyond the bound) gets none of these.
	line("certbot._internal.renewal", "Processing /etc/letsencrypt/renewal/l0.conf")
	var report strings.Builder
	report.WriteString("Challenge failed\n")
	for i := range MaxProblems + 2 {
		fmt.Fprintf(&report, "  Domain: d%d.example\n  Type:   connection\n  Detail: refused\n", i)
	}
	line("certbot._internal.display.obj", "Notifying user: "+strings.TrimSuffix(report.String(), "\n"))
	for range MaxHooks + 1 {
		line("certbot.display.ops", "Hook 'deploy-hook' reported error code 1")
	}
	line("certbot._internal.renewal", "Failed to renew certificate l0 with error: Some challenges have failed.")
	// The summary names every lineage again, the dropped ones included: counted once each.
	var summary strings.Builder
	summary.WriteString("Notifying user: The following certificates are not due for renewal yet:")
	for i := 1; i < MaxOutcomes+3; i++ {
		fmt.Fprintf(&summary, "\n  /etc/letsencrypt/live/l%d/fullchain.pem expires on 2027-01-01 (skipped)", i)
	}
	line("certbot._internal.display.obj", summary.String())

	var f Folder
	a := NewAssembler(time.UTC, 1<<20)
	for _, l := range strings.SplitAfter(b.String(), "\n") {
		if r, ok := a.Line([]byte(strings.TrimSuffix(l, "\n"))); ok {
			f.Add(r)
		}
	}
	if r, ok := a.Flush(); ok {
		f.Add(r)
	}
	run := f.Flush()
	if len(run.Outcomes) != MaxOutcomes {
		t.Fatalf("outcomes = %d, want %d", len(run.Outcomes), MaxOutcomes)
	}
	o := run.Outcome("l0")
	if o.Result != Failed || len(o.Problems) != MaxProblems || len(o.Hooks) != MaxHooks {
		t.Fatalf("l0: result %s, %d problems, %d hooks; want failed, %d, %d", o.Result, len(o.Problems), len(o.Hooks), MaxProblems, MaxHooks)
	}
	if want := uint64(3 + 2 + 1); f.Dropped != want {
		t.Errorf("Dropped = %d, want %d", f.Dropped, want)
	}
}
