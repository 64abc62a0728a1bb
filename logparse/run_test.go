package logparse

import (
	"bufio"
	"encoding/json"
	"flag"
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
