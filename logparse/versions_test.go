package logparse

import (
	"reflect"
	"testing"
	"time"
)

// Excerpts written from each version family's source strings (renewal.py, hooks.py /
// compat/misc.py / display/ops.py, auth_handler.py, log.py), reduced to the records that matter.
func TestFoldVersionFamilies(t *testing.T) {
	type want struct {
		lineage string
		result  Result
		reason  string
		hooks   []HookFailure
	}
	tests := []struct {
		name      string
		log       string
		failed    bool
		runReason string
		outcomes  []want
	}{
		{
			name: "0.31 connection failure with 'Attempting to renew cert' and reporter problems",
			log: `2019-02-10 03:00:01,100:DEBUG:certbot.main:certbot version: 0.31.0
2019-02-10 03:00:01,101:DEBUG:certbot.main:Arguments: ['-q', '--dry-run']
2019-02-10 03:00:02,000:INFO:certbot.renewal:Cert is due for renewal, auto-renewing...
2019-02-10 03:00:05,000:WARNING:certbot.auth_handler:Challenge failed for domain old.example.org
2019-02-10 03:00:05,001:DEBUG:certbot.reporter:Reporting to user: The following errors were reported by the server:

Domain: old.example.org
Type:   connection
Detail: Fetching http://old.example.org/.well-known/acme-challenge/x: Timeout during connect (likely firewall problem)
2019-02-10 03:00:05,100:WARNING:certbot.renewal:Attempting to renew cert (old.example.org) from /etc/letsencrypt/renewal/old.example.org.conf produced an unexpected error: Failed authorization procedure. old.example.org (http-01): urn:ietf:params:acme:error:connection :: The server could not connect to the client to verify the domain :: Fetching http://old.example.org/.well-known/acme-challenge/x: Timeout during connect (likely firewall problem). Skipping.
2019-02-10 03:00:05,200:DEBUG:certbot.renewal:Traceback was:
Traceback (most recent call last):
certbot.errors.AuthorizationError: Failed authorization procedure.
2019-02-10 03:00:05,300:ERROR:certbot.renewal:All renewal attempts failed. The following certs could not be renewed:
2019-02-10 03:00:05,301:ERROR:certbot.renewal:  /etc/letsencrypt/live/old.example.org/fullchain.pem (failure)
2019-02-10 03:00:05,400:DEBUG:certbot.log:Exiting abnormally:
Traceback (most recent call last):
certbot.errors.Error: 1 renew failure(s), 0 parse failure(s)
2019-02-10 03:00:05,401:ERROR:certbot.log:1 renew failure(s), 0 parse failure(s)`,
			failed: true, runReason: "connection",
			outcomes: []want{{"old.example.org", Failed, "connection", nil}},
		},
		{
			name: "0.31 renewal with a failing deploy hook named by the preceding Running line",
			log: `2019-02-10 03:00:01,100:DEBUG:certbot.main:certbot version: 0.31.0
2019-02-10 03:00:01,101:DEBUG:certbot.main:Arguments: ['-q']
2019-02-10 03:00:02,000:INFO:certbot.renewal:Cert is due for renewal, auto-renewing...
2019-02-10 03:00:09,000:DEBUG:certbot.storage:Writing new config /etc/letsencrypt/renewal/old.example.org.conf.new.
2019-02-10 03:00:09,100:INFO:certbot.hooks:Running deploy-hook command: systemctl reload nginx
2019-02-10 03:00:09,200:ERROR:certbot.hooks:Hook command "systemctl reload nginx" returned error code 1
2019-02-10 03:00:09,201:ERROR:certbot.hooks:Error output from systemctl:
Job for nginx.service failed.`,
			outcomes: []want{{"old.example.org", Renewed, "", []HookFailure{{"deploy", "systemctl reload nginx", 1}}}},
		},
		{
			name: "1.x (1.10–1.15) not due, rate limited failure, hook in compat.misc wording",
			log: `2021-05-01 00:00:00,000:DEBUG:certbot._internal.main:certbot version: 1.12.0
2021-05-01 00:00:00,001:DEBUG:certbot._internal.main:Arguments: ['-q']
2021-05-01 00:00:00,100:DEBUG:certbot.display.util:Notifying user: Processing /etc/letsencrypt/renewal/a.example.com.conf
2021-05-01 00:00:00,200:INFO:certbot._internal.renewal:Cert not yet due for renewal
2021-05-01 00:00:00,300:DEBUG:certbot.display.util:Notifying user: Processing /etc/letsencrypt/renewal/b.example.com.conf
2021-05-01 00:00:00,400:INFO:certbot._internal.renewal:Cert is due for renewal, auto-renewing...
2021-05-01 00:00:00,500:INFO:certbot.compat.misc:Running pre-hook command: systemctl stop nginx
2021-05-01 00:00:00,600:ERROR:certbot.compat.misc:pre-hook command "systemctl stop nginx" returned error code 5
2021-05-01 00:00:01,000:ERROR:certbot._internal.renewal:Failed to renew certificate b.example.com with error: urn:ietf:params:acme:error:rateLimited :: There were too many requests of a given type :: Error creating new order :: too many certificates already issued for exact set of domains: b.example.com: see https://letsencrypt.org/docs/rate-limits/
2021-05-01 00:00:01,100:ERROR:certbot._internal.renewal:The following renewals failed:
2021-05-01 00:00:01,101:ERROR:certbot._internal.renewal:  /etc/letsencrypt/live/b.example.com/fullchain.pem (failure)
2021-05-01 00:00:01,200:ERROR:certbot._internal.log:1 renew failure(s), 0 parse failure(s)`,
			failed: true, runReason: "rate_limited",
			outcomes: []want{
				{"a.example.com", NotDue, "", nil},
				{"b.example.com", Failed, "rate_limited", []HookFailure{{"pre", "systemctl stop nginx", 5}}},
			},
		},
		{
			name: "5.x DNS-01 wrong TXT listed with Identifier:, and an unreachable CA for another lineage",
			log: `2025-10-01 12:00:00,000:DEBUG:certbot._internal.main:certbot version: 5.1.0
2025-10-01 12:00:00,001:DEBUG:certbot._internal.main:Arguments: ['--quiet']
2025-10-01 12:00:00,100:DEBUG:certbot._internal.display.obj:Notifying user: Processing /etc/letsencrypt/renewal/dns.example.net.conf
2025-10-01 12:00:00,200:INFO:certbot._internal.renewal:Certificate is due for renewal, auto-renewing...
2025-10-01 12:00:03,000:DEBUG:certbot._internal.display.obj:Notifying user: 
Certbot failed to authenticate some domains (authenticator: dns-cloudflare). The Certificate Authority reported these problems:
  Identifier: dns.example.net
  Type:   unauthorized
  Detail: Incorrect TXT record "abc" found at _acme-challenge.dns.example.net

Hint: The Certificate Authority failed to verify the DNS TXT records created by --dns-cloudflare.
2025-10-01 12:00:03,100:ERROR:certbot._internal.renewal:Failed to renew certificate dns.example.net with error: Some challenges have failed.
2025-10-01 12:00:03,200:DEBUG:certbot._internal.display.obj:Notifying user: Processing /etc/letsencrypt/renewal/net.example.net.conf
2025-10-01 12:00:03,300:INFO:certbot._internal.renewal:Certificate is due for renewal, auto-renewing...
2025-10-01 12:00:04,000:ERROR:certbot._internal.renewal:Failed to renew certificate net.example.net with error: HTTPSConnectionPool(host='acme-v02.api.letsencrypt.org', port=443): Max retries exceeded with url: /directory (Caused by NewConnectionError('<urllib3.connection.HTTPSConnection object at 0x7f>: Failed to establish a new connection: [Errno 101] Network is unreachable'))
2025-10-01 12:00:04,100:INFO:certbot.compat.misc:Running post-hook command: systemctl start nginx
2025-10-01 12:00:04,200:WARNING:certbot.display.ops:Hook 'post-hook' reported error code 1
2025-10-01 12:00:04,300:ERROR:certbot._internal.log:2 renew failure(s), 0 parse failure(s)`,
			failed: true, runReason: "dns",
			outcomes: []want{
				{"dns.example.net", Failed, "dns", nil},
				{"net.example.net", Failed, "network", nil},
			},
		},
		{
			name: "1.16+ manual auth hook fails (its output is not certbot's), the CA finds no token",
			log: `2023-03-01 00:00:00,000:DEBUG:certbot._internal.main:certbot version: 2.3.0
2023-03-01 00:00:00,100:DEBUG:certbot._internal.display.obj:Notifying user: Processing /etc/letsencrypt/renewal/m.example.com.conf
2023-03-01 00:00:00,200:INFO:certbot._internal.renewal:Certificate is due for renewal, auto-renewing...
2023-03-01 00:00:00,300:INFO:certbot.compat.misc:Running manual-auth-hook command: /usr/local/bin/publish
2023-03-01 00:00:00,400:WARNING:certbot.display.ops:Hook '--manual-auth-hook' for m.example.com reported error code 2
2023-03-01 00:00:00,401:DEBUG:certbot._internal.display.obj:Notifying user: Hook '--manual-auth-hook' for m.example.com ran with output:
 /etc/letsencrypt/live/other.example.com/fullchain.pem (failure)
 Type: dns Detail: not a problem report
2023-03-01 00:00:02,000:DEBUG:certbot._internal.display.obj:Notifying user: 
Certbot failed to authenticate some domains (authenticator: manual). The Certificate Authority reported these problems:
  Domain: m.example.com
  Type:   unauthorized
  Detail: 192.0.2.1: Invalid response from http://m.example.com/.well-known/acme-challenge/abc: 404
2023-03-01 00:00:02,100:INFO:certbot.compat.misc:Running manual-cleanup-hook command: /usr/local/bin/unpublish
2023-03-01 00:00:02,200:WARNING:certbot.display.ops:Hook '--manual-cleanup-hook' for m.example.com reported error code 1
2023-03-01 00:00:02,300:ERROR:certbot._internal.renewal:Failed to renew certificate m.example.com with error: Some challenges have failed.
2023-03-01 00:00:02,400:ERROR:certbot._internal.log:1 renew failure(s), 0 parse failure(s)`,
			failed: true, runReason: "hook",
			outcomes: []want{{"m.example.com", Failed, "hook", []HookFailure{{"manual-auth", "/usr/local/bin/publish", 2}, {"manual-cleanup", "/usr/local/bin/unpublish", 1}}}},
		},
		{
			name: "1.x (1.10–1.15) manual auth hook in compat.misc wording",
			log: `2021-05-01 00:00:00,000:DEBUG:certbot._internal.main:certbot version: 1.14.0
2021-05-01 00:00:00,100:DEBUG:certbot.display.util:Notifying user: Processing /etc/letsencrypt/renewal/m.example.com.conf
2021-05-01 00:00:00,200:INFO:certbot._internal.renewal:Cert is due for renewal, auto-renewing...
2021-05-01 00:00:00,300:INFO:certbot.compat.misc:Running manual-auth-hook command: /usr/local/bin/publish
2021-05-01 00:00:00,400:ERROR:certbot.compat.misc:manual-auth-hook command "/usr/local/bin/publish" returned error code 1
2021-05-01 00:00:00,401:ERROR:certbot.compat.misc:Error output from manual-auth-hook command publish:
/etc/letsencrypt/live/other.example.com/fullchain.pem (success)
2021-05-01 00:00:02,300:ERROR:certbot._internal.renewal:Failed to renew certificate m.example.com with error: Some challenges have failed.`,
			outcomes: []want{{"m.example.com", Failed, "hook", []HookFailure{{"manual-auth", "/usr/local/bin/publish", 1}}}},
		},
		{
			name: "random delay before the first renewal is tracked, CAA refusal",
			log: `2024-01-01 00:00:00,000:DEBUG:certbot._internal.main:certbot version: 2.9.0
2024-01-01 00:00:00,050:DEBUG:certbot._internal.display.obj:Notifying user: Processing /etc/letsencrypt/renewal/caa.example.com.conf
2024-01-01 00:00:00,100:INFO:certbot._internal.renewal:Non-interactive renewal: random delay of 312.5 seconds
2024-01-01 00:05:13,000:ERROR:certbot._internal.renewal:Failed to renew certificate caa.example.com with error: urn:ietf:params:acme:error:caa :: CAA record for caa.example.com prevents issuance`,
			outcomes: []want{{"caa.example.com", Failed, "caa", nil}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runs := foldText(tt.log)
			if len(runs) != 1 {
				t.Fatalf("%d runs, want 1", len(runs))
			}
			r := runs[0]
			if r.Failed != tt.failed || r.Reason != tt.runReason {
				t.Errorf("run failed=%v reason=%q error=%q, want %v %q", r.Failed, r.Reason, r.Error, tt.failed, tt.runReason)
			}
			var got []want
			for _, o := range r.Outcomes {
				got = append(got, want{o.Lineage, o.Result, o.Reason, o.Hooks})
			}
			if !reflect.DeepEqual(got, tt.outcomes) {
				t.Errorf("outcomes\n got %+v\nwant %+v", got, tt.outcomes)
			}
		})
	}
}

func TestFoldSleepAndRunBoundaries(t *testing.T) {
	var f Folder
	rec := func(line string) Record {
		r, ok := parseLine(line, time.UTC)
		if !ok {
			t.Fatalf("unparsable %q", line)
		}
		return r
	}
	if d := f.Add(rec("2024-01-01 00:00:00,000:DEBUG:certbot._internal.main:certbot version: 2.9.0")); d != nil {
		t.Fatal("first run completed nothing")
	}
	f.Add(rec("2024-01-01 00:00:00,100:INFO:certbot._internal.renewal:Non-interactive renewal: random delay of 312.5 seconds"))
	if got := f.Current().SleepUntil.Sub(f.Current().Start); got != 312600*time.Millisecond {
		t.Errorf("SleepUntil - start = %v, want 5m12.6s", got)
	}
	d := f.Add(rec("2024-01-01 01:00:00,000:DEBUG:certbot._internal.main:certbot version: 2.9.0"))
	if d == nil || d.Version != "2.9.0" || f.Current() == nil || f.Current().Start.Hour() != 1 {
		t.Errorf("next 'certbot version' must complete the previous run: %+v", d)
	}
	var g Folder
	g.Add(Record{Logger: "certbot._internal.renewal", Message: "Certificate not yet due for renewal"})
	if g.Unknown != 1 || g.Current() != nil {
		t.Errorf("record before any run: Unknown=%d current=%v", g.Unknown, g.Current())
	}
}

func TestClassify(t *testing.T) {
	tests := []struct{ text, want string }{
		// ACME problem documents (acme/messages.py "typ :: description :: detail").
		{"urn:ietf:params:acme:error:dns :: There was a problem with a DNS query during identifier validation :: DNS problem: NXDOMAIN looking up A for x.example.com - check that a DNS record exists for this domain", "dns"},
		{"urn:ietf:params:acme:error:dns :: DNS problem: SERVFAIL looking up CAA for example.com - the domain's nameservers may be malfunctioning", "dns"},
		{"urn:ietf:params:acme:error:unauthorized :: No TXT record found at _acme-challenge.x.example.com", "dns"},
		{"urn:acme:error:connection :: The server could not connect to the client to verify the domain :: Timeout during connect (likely firewall problem)", "connection"},
		{"urn:ietf:params:acme:error:connection :: 1.2.3.4: Connection refused", "connection"},
		{"urn:ietf:params:acme:error:tls :: remote error: tls: handshake failure", "connection"},
		{"urn:ietf:params:acme:error:unauthorized :: Invalid response from http://x.example.com/.well-known/acme-challenge/abc: 404", "unauthorized"},
		{"urn:ietf:params:acme:error:incorrectResponse :: key authorization mismatch", "unauthorized"},
		{"urn:ietf:params:acme:error:caa :: CAA record for example.com prevents issuance", "caa"},
		{"urn:ietf:params:acme:error:rateLimited :: too many failed authorizations recently", "rate_limited"},
		{"urn:ietf:params:acme:error:accountDoesNotExist :: No account exists with the provided key", "account"},
		{"urn:ietf:params:acme:error:externalAccountRequired :: The server requires external account binding", "account"},
		{"urn:ietf:params:acme:error:serverInternal :: The server experienced an internal error :: Error retrieving account", "acme_server"},
		{"urn:ietf:params:acme:error:badNonce :: JWS has an invalid anti-replay nonce", "acme_server"},
		{"urn:ietf:params:acme:error:compound :: subproblems\nurn:ietf:params:acme:error:caa :: CAA\nurn:ietf:params:acme:error:dns :: NXDOMAIN", "caa"},
		{"HTTPSConnectionPool(host='acme-v02.api.letsencrypt.org', port=443): Max retries exceeded with url: /directory (Caused by NewConnectionError(': Failed to establish a new connection: [Errno -3] Temporary failure in name resolution'))", "network"},
		{"HTTPSConnectionPool(host='acme-v02.api.letsencrypt.org', port=443): Read timed out. (read timeout=45)", "network"},
		{"Account at /etc/letsencrypt/accounts/acme-v02.api.letsencrypt.org/directory/abc does not exist", "account"},
		{"urn:ietf:params:acme:error:unauthorized :: The client lacks sufficient authorization :: Account is not valid, has status \"deactivated\"", "account"},
		// Pebble's details (captured in testdata/certbot-2.1.0).
		{"urn:ietf:params:acme:error:unauthorized :: The client lacks sufficient authorization :: Account has been deactivated", "account"},
		{"urn:ietf:params:acme:error:unauthorized :: Correct value not found for DNS challenge", "dns"},
		{`urn:ietf:params:acme:error:connection :: Get "http://a.example.test:5102/x": could not resolve URL "http://a.example.test:5102/x"`, "dns"},
		// certbot's own errors.
		{"Another instance of Certbot is already running.", "lock"},
		{"Requesting 127.0.0.1/dir: Connection refused", "network"},
		{"Unable to find manual-auth-hook command /etc/letsencrypt/publish.sh in the PATH.\n(PATH is /usr/bin:/bin)", "hook"},
		{"manual-auth-hook command /etc/letsencrypt/publish.sh exists, but is not executable.", "hook"},
		{"Could not bind TCP port 80 because it is already in use by another process on this system (such as a web server). Please stop the program in question and then try again.", "config"},
		{"Could not bind TCP port 80 because you don't have the appropriate permissions (for example, you aren't running this program as root).", "config"},
		{"Couldn't create root for example.org http-01 challenge responses: [Errno 13] Permission denied: '/var/www/.well-known'", "config"},
		{"The nginx plugin is not working; there may be problems with your existing configuration.\nThe error was: MisconfigurationError('Error while running nginx -c /etc/nginx/nginx.conf -t.')", "config"},
		{"The requested apache plugin does not appear to be installed", "config"},
		{"No certificate found with name nosuch.example.org (expected /etc/letsencrypt/renewal/nosuch.example.org.conf).", "config"},
		{"Some challenges have failed.", "unknown"},
		{"", "unknown"},
	}
	for _, tt := range tests {
		if got := Classify(tt.text); got != tt.want {
			t.Errorf("Classify(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
	// Pebble reports a failed lookup as "connection"; the detail makes it DNS.
	p := Problem{"a.example.test", "connection", `Get "http://a.example.test:5002/x": error occurred while resolving URL "http://a.example.test:5002/x": dial tcp 127.0.0.1:8053: connect: connection refused`}
	if got := ClassifyProblem(p); got != "dns" {
		t.Errorf("ClassifyProblem(pebble lookup failure) = %q, want dns", got)
	}
	for _, r := range []string{"dns", "connection", "unauthorized", "caa", "rate_limited", "network", "account", "lock", "acme_server", "unknown"} {
		found := false
		for _, v := range Reasons {
			found = found || v == r
		}
		if !found {
			t.Errorf("reason %q missing from Reasons", r)
		}
	}
}

func FuzzFolder(f *testing.F) {
	for _, name := range []string{"renew-dns", "renew-parsefail", "renew-pre-post-hook-fail", "standalone-certonly-connection",
		"standalone-certonly-rejected-identifier", "standalone-certonly-pre-hook-fails", "manual-http-auth-hook-fails"} {
		data, err := readTestdata("testdata/certbot-2.1.0/" + name + ".log")
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	if data, err := readTestdata("testdata/handbuilt/letsencrypt-production.log"); err == nil {
		f.Add(data)
	}
	f.Add("2024-01-01 00:00:00,000:DEBUG:certbot._internal.main:certbot version: 1\n2024-01-01 00:00:00,000:ERROR:certbot._internal.renewal:Failed to renew certificate  with error: \n")
	f.Fuzz(func(t *testing.T, text string) {
		for _, r := range foldText(text) {
			if r.Failed && r.Reason == "" {
				t.Fatalf("failed run without reason: %+v", r)
			}
			seen := map[string]bool{}
			for _, o := range r.Outcomes {
				if seen[o.Lineage] || o.Lineage == "" {
					t.Fatalf("lineage %q twice or empty in %+v", o.Lineage, r.Outcomes)
				}
				seen[o.Lineage] = true
				if len(o.Problems) > MaxProblems || len(o.Hooks) > MaxHooks {
					t.Fatalf("outcome past its bounds: %d problems, %d hooks", len(o.Problems), len(o.Hooks))
				}
				if o.Result == Failed && !isReason(o.Reason) || o.Result != Failed && o.Reason != "" {
					t.Fatalf("outcome %+v has reason %q", o, o.Reason)
				}
			}
		}
	})
}

func isReason(s string) bool {
	for _, r := range Reasons {
		if r == s {
			return true
		}
	}
	return false
}
