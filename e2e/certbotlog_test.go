//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"time"
)

// Certbot log text for the failures Pebble cannot produce (DNS problems, rate limits), and for
// runs in the past. The records follow certbot 2.1's letsencrypt.log as captured from the real
// certbot-against-Pebble run of this suite: "TIMESTAMP:LEVEL:logger:message", local time,
// continuation lines without a timestamp.

// certbotLog renders records: lines starting with "@" get the next timestamp (a few
// milliseconds apart from at), others are continuation lines.
func certbotLog(at time.Time, text string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.Trim(text, "\n"), "\n") {
		if rest, ok := strings.CutPrefix(line, "@"); ok {
			at = at.Add(3 * time.Millisecond)
			fmt.Fprintf(&b, "%s,%03d:%s\n", at.Local().Format("2006-01-02 15:04:05"), at.Nanosecond()/1e6, rest)
			continue
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

func certbotRunHeader(args string) string {
	return `@DEBUG:certbot._internal.main:certbot version: 2.1.0
@DEBUG:certbot._internal.main:Location of certbot entry point: /usr/bin/certbot
@DEBUG:certbot._internal.main:Arguments: ` + args + `
@DEBUG:certbot._internal.main:Discovered plugins: PluginsRegistry(PluginEntryPoint#manual,PluginEntryPoint#null,PluginEntryPoint#standalone,PluginEntryPoint#webroot)
@DEBUG:certbot._internal.log:Root logging level set at 30
`
}

// certbotRunNotDue is a `certbot renew -q` run (what certbot.timer does) finding nothing due.
func certbotRunNotDue(at time.Time, configDir, name string, notAfter time.Time) string {
	return certbotLog(at, certbotRunHeader("['-q']")+fmt.Sprintf(`@DEBUG:certbot._internal.display.obj:Notifying user: Processing %[1]s/renewal/%[2]s.conf
@DEBUG:certbot._internal.plugins.selection:Requested authenticator <certbot._internal.cli.cli_utils._Default object at 0x7f3a1c2d4a90> and installer <certbot._internal.cli.cli_utils._Default object at 0x7f3a1c2d4a90>
@DEBUG:certbot._internal.display.obj:Notifying user: Certificate not yet due for renewal
@DEBUG:certbot._internal.plugins.selection:Requested authenticator standalone and installer None
@DEBUG:certbot._internal.display.obj:Notifying user: - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - -
@DEBUG:certbot._internal.display.obj:Notifying user: The following certificates are not due for renewal yet:
@DEBUG:certbot._internal.display.obj:Notifying user:   %[1]s/live/%[2]s/fullchain.pem expires on %[3]s (skipped)
@DEBUG:certbot._internal.display.obj:Notifying user: No renewals were attempted.
@DEBUG:certbot._internal.display.obj:Notifying user: - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - -
`, configDir, name, notAfter.UTC().Format("2006-01-02")))
}

// certbotRunDNSFailure is a renewal whose HTTP-01 validation hit a DNS problem (the domain's
// A record was removed), worded as Let's Encrypt's Boulder reports it.
func certbotRunDNSFailure(at time.Time, configDir, name, domain string) string {
	return certbotLog(at, certbotRunHeader("['-q']")+fmt.Sprintf(`@DEBUG:certbot._internal.display.obj:Notifying user: Processing %[1]s/renewal/%[2]s.conf
@DEBUG:certbot._internal.plugins.selection:Requested authenticator <certbot._internal.cli.cli_utils._Default object at 0x7f3a1c2d4a90> and installer <certbot._internal.cli.cli_utils._Default object at 0x7f3a1c2d4a90>
@DEBUG:certbot._internal.storage:Should renew, less than 30 days before certificate expiry 2026-12-20 09:14:02 UTC.
@INFO:certbot._internal.renewal:Certificate is due for renewal, auto-renewing...
@DEBUG:certbot._internal.plugins.selection:Requested authenticator standalone and installer None
@DEBUG:certbot._internal.plugins.selection:Single candidate plugin: * standalone
@INFO:certbot._internal.plugins.selection:Plugins selected: Authenticator standalone, Installer None
@DEBUG:certbot._internal.display.obj:Notifying user: Renewing an existing certificate for %[3]s
@INFO:certbot._internal.auth_handler:Performing the following challenges:
@INFO:certbot._internal.auth_handler:http-01 challenge for %[3]s
@DEBUG:acme.standalone:Successfully bound to :80 using IPv6
@INFO:certbot._internal.auth_handler:Waiting for verification...
@INFO:certbot._internal.auth_handler:Challenge failed for domain %[3]s
@INFO:certbot._internal.auth_handler:http-01 challenge for %[3]s
@DEBUG:certbot._internal.display.obj:Notifying user: 
Certbot failed to authenticate some domains (authenticator: standalone). The Certificate Authority reported these problems:
  Domain: %[3]s
  Type:   dns
  Detail: DNS problem: NXDOMAIN looking up A for %[3]s - check that a DNS record exists for this domain; DNS problem: NXDOMAIN looking up AAAA for %[3]s - check that a DNS record exists for this domain

Hint: The Certificate Authority failed to download the challenge files from the temporary standalone webserver started by Certbot on :80. Ensure that the listed domains point to this machine and that it can accept inbound connections from the internet.

@DEBUG:certbot._internal.error_handler:Encountered exception:
Traceback (most recent call last):
  File "/usr/lib/python3/dist-packages/certbot/_internal/auth_handler.py", line 206, in _poll_authorizations
    raise errors.AuthorizationError('Some challenges have failed.')
certbot.errors.AuthorizationError: Some challenges have failed.

@DEBUG:certbot._internal.error_handler:Calling registered functions
@INFO:certbot._internal.auth_handler:Cleaning up challenges
@DEBUG:certbot._internal.plugins.standalone:Stopping server at :::80...
@ERROR:certbot._internal.renewal:Failed to renew certificate %[2]s with error: Some challenges have failed.
@DEBUG:certbot._internal.renewal:Traceback was:
Traceback (most recent call last):
  File "/usr/lib/python3/dist-packages/certbot/_internal/auth_handler.py", line 206, in _poll_authorizations
    raise errors.AuthorizationError('Some challenges have failed.')
certbot.errors.AuthorizationError: Some challenges have failed.

@DEBUG:certbot._internal.display.obj:Notifying user: - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - -
@ERROR:certbot._internal.renewal:All renewals failed. The following certificates could not be renewed:
@ERROR:certbot._internal.renewal:  %[1]s/live/%[2]s/fullchain.pem (failure)
@DEBUG:certbot._internal.display.obj:Notifying user: - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - -
@DEBUG:certbot._internal.log:Exiting abnormally:
Traceback (most recent call last):
  File "/usr/bin/certbot", line 33, in <module>
    sys.exit(load_entry_point('certbot==2.1.0', 'console_scripts', 'certbot')())
certbot.errors.Error: 1 renew failure(s), 0 parse failure(s)
@ERROR:certbot._internal.log:1 renew failure(s), 0 parse failure(s)
`, configDir, name, domain))
}

// certbotRunRateLimited is a renewal refused at new-order by Let's Encrypt's duplicate
// certificate limit.
func certbotRunRateLimited(at time.Time, configDir, name, domain string) string {
	retry := at.Add(30 * time.Hour).UTC().Format("2006-01-02 15:04:05 MST")
	detail := fmt.Sprintf("too many certificates (5) already issued for this exact set of identifiers in the last 168h0m0s, retry after %s: see https://letsencrypt.org/docs/rate-limits/#new-certificates-per-exact-set-of-identifiers", retry)
	return certbotLog(at, certbotRunHeader("['-q']")+fmt.Sprintf(`@DEBUG:certbot._internal.display.obj:Notifying user: Processing %[1]s/renewal/%[2]s.conf
@DEBUG:certbot._internal.storage:Should renew, less than 30 days before certificate expiry 2026-12-20 09:14:02 UTC.
@INFO:certbot._internal.renewal:Certificate is due for renewal, auto-renewing...
@INFO:certbot._internal.plugins.selection:Plugins selected: Authenticator standalone, Installer None
@DEBUG:certbot._internal.display.obj:Notifying user: Renewing an existing certificate for %[3]s
@DEBUG:acme.client:Sending POST request to https://acme-v02.api.letsencrypt.org/acme/new-order:
{
  "protected": "eyJhbGciOiAiRVMyNTYifQ",
  "signature": "MEUCIQDx",
  "payload": "eyJpZGVudGlmaWVycyI6IFtdfQ"
}
@DEBUG:urllib3.connectionpool:https://acme-v02.api.letsencrypt.org:443 "POST /acme/new-order HTTP/1.1" 429 255
@DEBUG:acme.client:Received response:
HTTP 429
Server: nginx
Content-Type: application/problem+json
Retry-After: 108000

{
  "type": "urn:ietf:params:acme:error:rateLimited",
  "detail": "%[4]s",
  "status": 429
}
@ERROR:certbot._internal.renewal:Failed to renew certificate %[2]s with error: urn:ietf:params:acme:error:rateLimited :: There were too many requests of a given type :: %[4]s
@DEBUG:certbot._internal.renewal:Traceback was:
Traceback (most recent call last):
  File "/usr/lib/python3/dist-packages/acme/client.py", line 735, in _check_response
    raise messages.Error.from_json(jobj)
acme.messages.Error: urn:ietf:params:acme:error:rateLimited :: There were too many requests of a given type :: %[4]s

@ERROR:certbot._internal.renewal:All renewals failed. The following certificates could not be renewed:
@ERROR:certbot._internal.renewal:  %[1]s/live/%[2]s/fullchain.pem (failure)
@DEBUG:certbot._internal.log:Exiting abnormally:
Traceback (most recent call last):
  File "/usr/bin/certbot", line 33, in <module>
    sys.exit(load_entry_point('certbot==2.1.0', 'console_scripts', 'certbot')())
certbot.errors.Error: 1 renew failure(s), 0 parse failure(s)
@ERROR:certbot._internal.log:1 renew failure(s), 0 parse failure(s)
`, configDir, name, domain, detail))
}
