package demo

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	toolkit "github.com/prometheus/exporter-toolkit/web"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/registry"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/server"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testwait"
)

// TestDemo starts the demo world and the exporter on it as `cert_expiry_exporter demo` does,
// waits until /metrics shows every state, then stops and checks that nothing is left behind.
func TestDemo(t *testing.T) {
	w, err := New(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	var announce bytes.Buffer
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	w.Announce(&announce, []string{addr})
	for _, want := range []string{"http://" + addr + "/certificates", "http://" + addr + "/metrics", w.Dir} {
		if !strings.Contains(announce.String(), want) {
			t.Errorf("announcement lacks %q:\n%s", want, announce.String())
		}
	}

	logger := slog.New(slog.DiscardHandler)
	e, err := server.New(server.ConfigSource{File: w.Config}, registry.Sources, logger, clockwork.NewRealClock())
	if err != nil {
		t.Fatal(err)
	}
	h := e.Handler(server.HTTPOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	ran, served := make(chan struct{}), make(chan error, 1)
	go func() { e.Run(ctx); close(ran) }()
	noTLS := ""
	go func() {
		served <- e.Serve(ctx, h, &toolkit.FlagConfig{WebListenAddresses: &[]string{addr}, WebConfigFile: &noTLS})
	}()

	_, caddyPort, _ := net.SplitHostPort(w.Caddy)
	// Every state of the demo, as the alert rules see it.
	wants := []string{
		`cert_expiry_seconds{domain="expired.demo.test",index="0"`,
		`cert_expiry_seconds{domain="six-days.demo.test",index="0"`,
		`cert_expiry_seconds{domain="two-days.demo.test",index="0"`,
		`cert_expiry_seconds{domain="healthy.demo.test",index="0"`,
		`cert_expiry_seconds{domain="shortlived.demo.test",index="0"`,
		`cert_info{domain="staging.demo.test",eku="server_auth,client_auth",index="0",issuer="(STAGING) Counterfeit Cashew R10",key_type="ecdsa-p256",lineage="staging.demo.test"`,
		`staging="true"`,
		`reason="wrong_order",source="file"`,
		`cert_chain_verified{ip="127.0.0.1",reason="incomplete_chain",source="probe",target="` + w.Incomplete + `"} 0`,
		`cert_chain_verified{ip="127.0.0.1",reason="ok",source="probe",target="` + w.Good + `"} 1`,
		`cert_renewal_failure{client="certbot",domain="six-days.demo.test",lineage="six-days.demo.test",reason="connection"} 1`,
		`cert_renewal_failure{client="certbot",domain="two-days.demo.test",lineage="two-days.demo.test",reason="dns"} 1`,
		`cert_renewal_failure{client="certbot",domain="healthy.demo.test",lineage="healthy.demo.test",reason="none"} 0`,
		`cert_renewal_client_last_run_success{client="certbot",log="` + w.Dir + `/log/letsencrypt.log"} 0`,
		`cert_key_match{lineage="healthy.demo.test",path="`,
		`cert_renewal_failure{client="lego",domain="lego-failing.demo.test",lineage="lego-failing.demo.test",reason="unauthorized"} 1`,
		`cert_renewal_failure{client="lego",domain="lego-ok.demo.test",lineage="lego-ok.demo.test",reason="none"} 0`,
		`cert_key_match{lineage="lego-ok.demo.test",path="` + w.Dir + `/lego/certificates/lego-ok.demo.test.crt",source="lego"} 1`,
		`cert_renewal_client_last_run_success{client="lego",log="` + w.Dir + `/log/lego.log"} 0`,
		`cert_renewal_failure{client="caddy",domain="caddy-failing.demo.test",lineage="caddy-failing.demo.test",reason="dns"} 1`,
		`cert_renewal_failure{client="caddy",domain="caddy-ok.demo.test",lineage="caddy-ok.demo.test",reason="none"} 0`,
		`cert_renewal_consecutive_failures{client="caddy",lineage="caddy-failing.demo.test"} 2`,
		`cert_chain_verified{lineage="caddy-ok.demo.test",path="` + w.Dir + `/caddy/certificates/acme-v02.api.letsencrypt.org-directory/caddy-ok.demo.test/caddy-ok.demo.test.crt",reason=`,
		`cert_info{domain="caddy-ok.demo.test",eku="server_auth,client_auth",index="0",issuer="`,
		// caddy.probe: both stored names served by Caddy's listener, the stored certificates.
		`cert_chain_verified{ip="127.0.0.1",reason="ok",source="probe",target="caddy-ok.demo.test:` + caddyPort + `"} 1`,
		`cert_chain_verified{ip="127.0.0.1",reason="ok",source="probe",target="caddy-failing.demo.test:` + caddyPort + `"} 1`,
		`cert_served_outdated{domain="caddy-ok.demo.test",ip="127.0.0.1",key="",lineage="caddy-ok.demo.test",namespace="",path="` + w.Dir + `/caddy/certificates/acme-v02.api.letsencrypt.org-directory/caddy-ok.demo.test/caddy-ok.demo.test.crt",secret="",target="caddy-ok.demo.test:` + caddyPort + `"} 0`,
		`cert_served_outdated{domain="www.demo.test",ip="127.0.0.1",key="",lineage="",namespace="",path="` + w.Dir + `/certs/www.demo.test.pem",secret="",target="` + w.Good + `"}`,
		`cert_crl_info{index="0",issuer="Demo Intermediate CA",path="` + w.Dir + `/crl/clients-crl.pem",team="pki"} 1`,
		`cert_crl_next_update_timestamp_seconds{index="1",issuer="Demo Root CA",path="` + w.Dir + `/crl/clients-crl.pem"}`,
	}
	var body string
	testwait.Until(t, func() error {
		body = get(t, "http://"+addr+"/metrics")
		var missing []string
		for _, want := range wants {
			if !strings.Contains(body, want) {
				missing = append(missing, want)
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("/metrics lacks %q:\n%s", missing, body)
		}
		return nil
	})
	for _, want := range []string{`cert_expiry_seconds{domain="expired.demo.test",index="0"`, `cert_expiry_seconds{domain="two-days.demo.test",index="0"`} {
		line := body[strings.Index(body, want):]
		line = line[:strings.IndexByte(line, '\n')]
		v := line[strings.LastIndexByte(line, ' ')+1:]
		if strings.Contains(want, "expired") != strings.HasPrefix(v, "-") {
			t.Errorf("%s: value %s", want, v)
		}
	}
	checkDocumented(t, body)
	if page := get(t, "http://"+addr+"/certificates"); !strings.Contains(page, "two-days.demo.test") || !strings.Contains(page, "failed: dns") {
		t.Errorf("/certificates lacks the demo rows")
	}

	cancel()
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	<-ran
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(w.Dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists: %v", w.Dir, err)
	}
	for _, a := range []string{w.Good, w.Incomplete, w.Caddy, addr} {
		if c, err := net.DialTimeout("tcp", a, time.Second); err == nil {
			c.Close()
			t.Errorf("%s still accepts connections", a)
		}
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return "" // not listening yet
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkDocumented fails for every metric family the exporter emits that docs/metrics.md does not
// name, so the reference cannot drift from the code (alerts/contract_test.go checks the other way).
func checkDocumented(t *testing.T, exposition string) {
	t.Helper()
	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(exposition, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "#" || f[1] != "TYPE" {
			continue
		}
		name := f[2]
		if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") || strings.HasPrefix(name, "promhttp_") {
			continue
		}
		if !bytes.Contains(doc, []byte("`"+name+"`")) {
			t.Errorf("metric %s is exported but not documented in docs/metrics.md", name)
		}
	}
}

func TestConcretePorts(t *testing.T) {
	got := ConcretePorts([]string{"127.0.0.1:0", "127.0.0.1:9117", ":http"})
	if _, port, _ := net.SplitHostPort(got[0]); port == "0" || port == "" {
		t.Errorf("port 0 not replaced: %q", got[0])
	}
	if got[1] != "127.0.0.1:9117" || got[2] != ":http" {
		t.Errorf("other addresses changed: %q", got)
	}
}
