package certbot_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/collector"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certbot"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/inventory"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/logparse"
)

// certbotTestCollector renders a certbot snapshot as the exporter does: published to an
// inventory, collected with the families every source shares.
func certbotTestCollector(s *certbot.Snapshot) prometheus.Collector {
	store := inventory.New(certbot.Factory.Name)
	store.Restart(certbot.Factory.Name, true)(certbot.Published(s))
	return collector.New(store, time.Now)
}

func TestCollectCertbot(t *testing.T) {
	at := func(s string) time.Time { tm, _ := time.Parse(time.RFC3339, s); return tm }
	snap := &certbot.Snapshot{
		HasRun: true, LastRun: at("2026-11-25T00:20:00Z"), LastRunSuccess: false, Log: "/var/log/letsencrypt/letsencrypt.log",
		Runs:     map[string]uint64{"success": 3, "failure": 1},
		LogLines: 1200, LogBytes: 98765, LogUnparsed: 2,
		Lineages: []certbot.Lineage{
			{
				Name: "a.example.test", Domain: "a.example.test",
				LastAttempt: at("2026-11-25T00:20:00Z"), LastSuccess: at("2026-11-24T00:00:00Z"), LastRenewal: at("2026-11-24T00:00:00Z"),
				FailureReason: "connection", FailureMessage: "Some challenges have failed.",
				Attempts: map[string]uint64{"renewed": 1, "not_due": 2, "failed": 1}, Failures: 1,
				Conf: &certbot.RenewalConf{Lineage: "a.example.test", Server: "https://acme-staging-v02.api.letsencrypt.org/directory", Authenticator: "webroot", DeployHook: "systemctl reload nginx"},
			},
			{
				Name: "b.example.test", Domain: "www.b.example.test",
				LastAttempt: at("2026-11-25T00:20:00Z"), LastSuccess: at("2026-11-25T00:20:00Z"), LastRenewal: at("2026-11-25T00:20:00Z"),
				FailureReason: "hook", HookFailures: []logparse.HookFailure{{Hook: "post", Code: 1}},
				Attempts: map[string]uint64{"renewed": 1},
			},
			{
				Name: "c.example.test", Domain: "c.example.test",
				LastAttempt: at("2026-11-25T00:20:00Z"), LastSuccess: at("2026-11-25T00:20:00Z"),
				FailureReason: "none", Attempts: map[string]uint64{"not_due": 1},
				Conf: &certbot.RenewalConf{Lineage: "c.example.test", Server: "https://acme-v02.api.letsencrypt.org/directory", Authenticator: "standalone"},
			},
			{Name: "never.example.test", Domain: "never.example.test", Attempts: map[string]uint64{}},
		},
	}
	want := `
# HELP cert_expiry_exporter_certbot_log_bytes_total Bytes read from the certbot log.
# TYPE cert_expiry_exporter_certbot_log_bytes_total counter
cert_expiry_exporter_certbot_log_bytes_total 98765
# HELP cert_expiry_exporter_certbot_log_lines_total Lines read from the certbot log.
# TYPE cert_expiry_exporter_certbot_log_lines_total counter
cert_expiry_exporter_certbot_log_lines_total 1200
# HELP cert_expiry_exporter_certbot_log_unparsed_records_total Certbot log records that did not start with a timestamp or were not understood.
# TYPE cert_expiry_exporter_certbot_log_unparsed_records_total counter
cert_expiry_exporter_certbot_log_unparsed_records_total 2
# HELP cert_renewal_attempts_total Attempts to obtain or renew the certificate seen in the client's log (history replay included).
# TYPE cert_renewal_attempts_total counter
cert_renewal_attempts_total{client="certbot",lineage="a.example.test"} 4
cert_renewal_attempts_total{client="certbot",lineage="b.example.test"} 1
cert_renewal_attempts_total{client="certbot",lineage="c.example.test"} 1
# HELP cert_renewal_consecutive_failures Failed attempts since the last success: the retries a success ends.
# TYPE cert_renewal_consecutive_failures gauge
cert_renewal_consecutive_failures{client="certbot",lineage="a.example.test"} 1
cert_renewal_consecutive_failures{client="certbot",lineage="b.example.test"} 0
cert_renewal_consecutive_failures{client="certbot",lineage="c.example.test"} 0
# HELP cert_renewal_last_attempt_timestamp_seconds Last time the ACME client tried to obtain or renew the certificate, or checked it and kept it.
# TYPE cert_renewal_last_attempt_timestamp_seconds gauge
cert_renewal_last_attempt_timestamp_seconds{client="certbot",lineage="a.example.test"} 1.795566e+09
cert_renewal_last_attempt_timestamp_seconds{client="certbot",lineage="b.example.test"} 1.795566e+09
cert_renewal_last_attempt_timestamp_seconds{client="certbot",lineage="c.example.test"} 1.795566e+09
# HELP cert_renewal_last_success_timestamp_seconds Last attempt on the certificate that did not fail.
# TYPE cert_renewal_last_success_timestamp_seconds gauge
cert_renewal_last_success_timestamp_seconds{client="certbot",lineage="a.example.test"} 1.7954784e+09
cert_renewal_last_success_timestamp_seconds{client="certbot",lineage="b.example.test"} 1.795566e+09
cert_renewal_last_success_timestamp_seconds{client="certbot",lineage="c.example.test"} 1.795566e+09
# HELP cert_renewal_client_last_run_success 1 when the renewal client's newest run ended without a failure.
# TYPE cert_renewal_client_last_run_success gauge
cert_renewal_client_last_run_success{client="certbot",log="/var/log/letsencrypt/letsencrypt.log"} 0
# HELP cert_renewal_client_last_run_timestamp_seconds Start of the newest run of the renewal client seen in its log; 0 when no run was seen in the log history.
# TYPE cert_renewal_client_last_run_timestamp_seconds gauge
cert_renewal_client_last_run_timestamp_seconds{client="certbot",log="/var/log/letsencrypt/letsencrypt.log"} 1.795566e+09
# HELP cert_renewal_failure 1 while the lineage's latest renewal attempt failed, with that failure's reason; 0 (reason none) after a success.
# TYPE cert_renewal_failure gauge
cert_renewal_failure{client="certbot",domain="a.example.test",lineage="a.example.test",reason="connection"} 1
cert_renewal_failure{client="certbot",domain="c.example.test",lineage="c.example.test",reason="none"} 0
cert_renewal_failure{client="certbot",domain="www.b.example.test",lineage="b.example.test",reason="hook"} 1
# HELP certbot_hook_failure 1 while the hook's latest run for the lineage failed; a failed deploy hook stands until a renewal whose deploy hook does not fail.
# TYPE certbot_hook_failure gauge
certbot_hook_failure{hook="deploy",lineage="a.example.test"} 0
certbot_hook_failure{hook="post",lineage="b.example.test"} 1
# HELP certbot_lineage_info The lineage's renewal configuration.
# TYPE certbot_lineage_info gauge
certbot_lineage_info{authenticator="standalone",domain="c.example.test",lineage="c.example.test",server="https://acme-v02.api.letsencrypt.org/directory",staging="false"} 1
certbot_lineage_info{authenticator="webroot",domain="a.example.test",lineage="a.example.test",server="https://acme-staging-v02.api.letsencrypt.org/directory",staging="true"} 1
# HELP certbot_runs_total Certbot runs seen since the exporter started (history replay included).
# TYPE certbot_runs_total counter
certbot_runs_total{result="failure"} 1
certbot_runs_total{result="success"} 3
`
	if err := testutil.CollectAndCompare(certbotTestCollector(snap), strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

// TestCollectCertbotNoRun: with no run in the replayed history (timer stopped long ago, logs
// rotated away) the last-run timestamp is still exported, as 0, so that
// RenewalClientNotRunning fires; the success gauge stays absent because there is no run to judge.
func TestCollectCertbotNoRun(t *testing.T) {
	snap := &certbot.Snapshot{Runs: map[string]uint64{"success": 0, "failure": 0}, Log: "/var/log/letsencrypt/letsencrypt.log"}
	want := `
# HELP cert_expiry_exporter_certbot_log_bytes_total Bytes read from the certbot log.
# TYPE cert_expiry_exporter_certbot_log_bytes_total counter
cert_expiry_exporter_certbot_log_bytes_total 0
# HELP cert_expiry_exporter_certbot_log_lines_total Lines read from the certbot log.
# TYPE cert_expiry_exporter_certbot_log_lines_total counter
cert_expiry_exporter_certbot_log_lines_total 0
# HELP cert_expiry_exporter_certbot_log_unparsed_records_total Certbot log records that did not start with a timestamp or were not understood.
# TYPE cert_expiry_exporter_certbot_log_unparsed_records_total counter
cert_expiry_exporter_certbot_log_unparsed_records_total 0
# HELP cert_renewal_client_last_run_timestamp_seconds Start of the newest run of the renewal client seen in its log; 0 when no run was seen in the log history.
# TYPE cert_renewal_client_last_run_timestamp_seconds gauge
cert_renewal_client_last_run_timestamp_seconds{client="certbot",log="/var/log/letsencrypt/letsencrypt.log"} 0
# HELP certbot_runs_total Certbot runs seen since the exporter started (history replay included).
# TYPE certbot_runs_total counter
certbot_runs_total{result="failure"} 0
certbot_runs_total{result="success"} 0
`
	if err := testutil.CollectAndCompare(certbotTestCollector(snap), strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}
