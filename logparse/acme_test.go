package logparse

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// golden compares v, as indented JSON, with the golden file (go test -update rewrites it).
func golden(t *testing.T, path string, v any) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(want)) != string(got) {
		t.Errorf("result differs from %s:\n%s", path, got)
	}
}

// lines calls fn for each line of text, as a reader that cuts lines at MaxLogLine+1 would.
func lines(text string, fn func([]byte)) {
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		b := sc.Bytes()
		fn(b[:min(len(b), MaxLogLine+1)])
	}
}

func captured(t *testing.T, pattern string) []string {
	t.Helper()
	logs, err := filepath.Glob(pattern)
	if err != nil || len(logs) == 0 {
		t.Fatalf("no captured logs %s: %v", pattern, err)
	}
	return logs
}

// checkOutcome is the invariant every folded outcome keeps, whatever the input.
func checkOutcome(t *testing.T, o ACMEOutcome) {
	t.Helper()
	switch {
	case o.Name == "" || len(o.Name) > MaxName:
		t.Fatalf("bad name %q", o.Name)
	case (o.Failures > 0) != (o.Reason != ""):
		t.Fatalf("%s: %d failures with reason %q", o.Name, o.Failures, o.Reason)
	case o.Reason != "" && !isReason(o.Reason):
		t.Fatalf("%s: reason %q not in the vocabulary", o.Name, o.Reason)
	case o.Result == Failed && o.Failures == 0:
		t.Fatalf("%s: failed without a failure counted", o.Name)
	case o.Result != Attempted && o.Result != Renewed && o.Result != Failed && o.Result != NotDue:
		t.Fatalf("%s: result %q", o.Name, o.Result)
	case len(o.Problems) > MaxProblems || len(o.Error) > MaxMessage || len(o.Hook) > MaxMessage:
		t.Fatalf("%s: past its bounds: %d problems, %d bytes of error", o.Name, len(o.Problems), len(o.Error))
	case o.Result == Renewed && (o.LastSuccess.IsZero() || o.Failures != 0):
		t.Fatalf("%s: renewed without a success time or with failures: %+v", o.Name, o)
	}
}

func TestClientReason(t *testing.T) {
	tests := []struct{ text, want string }{
		// Caddy 2.6.2 (certmagic 0.17) and lego 4.9.1, CA down.
		{`registering account [mailto:admin@example.test] with server: provisioning client: performing request: Get "https://127.0.0.1:14009/dir": dial tcp 127.0.0.1:14009: connect: connection refused`, "network"},
		{`get directory at 'https://acme-v02.api.letsencrypt.org/directory': Get "https://acme-v02.api.letsencrypt.org/directory": tls: failed to verify certificate: x509: certificate signed by unknown authority`, "network"},
		// An ACME problem wins over the transport words in its detail.
		{`HTTP 400 urn:ietf:params:acme:error:connection - Get "http://a.example.test:5002/x": dial tcp 127.0.0.1:5002: connect: connection refused`, "connection"},
		{`HTTP 400 urn:ietf:params:acme:error:rejectedIdentifier - Order included an identifier for which issuance is forbidden by policy`, "acme_server"},
		{"no solvers available for remaining challenges", "unknown"},
	}
	for _, tt := range tests {
		if got := clientReason(tt.text); got != tt.want {
			t.Errorf("clientReason(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}
