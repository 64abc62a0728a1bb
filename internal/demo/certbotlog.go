package demo

import (
	"fmt"
	"strings"
	"time"
)

// certbotTime is the timestamp format of certbot's log (logging's asctime, local time, no zone).
const certbotTime = "2006-01-02 15:04:05,000"

// lineageRun is what happened to one lineage in a `certbot renew` run.
type lineageRun struct {
	name      string // lineage
	domain    string
	fullchain string
	conf      string
	notAfter  time.Time
	// failType and failDetail are the ACME problem of a failed challenge; empty means not due.
	failType, failDetail string
}

// renewRunLog writes one `certbot -q renew` run in certbot 2.1's exact format (as captured from
// a real certbot against Pebble): a timer run where some lineages are not due and others fail
// their HTTP-01 challenge.
func renewRunLog(start time.Time, lineages []lineageRun) string {
	var b strings.Builder
	t := start
	line := func(level, logger, msg string) {
		fmt.Fprintf(&b, "%s:%s:%s:%s\n", t.Format(certbotTime), level, logger, msg)
		t = t.Add(7 * time.Millisecond)
	}
	line("DEBUG", "certbot._internal.main", "certbot version: 2.1.0")
	line("DEBUG", "certbot._internal.main", "Location of certbot entry point: /usr/bin/certbot")
	line("DEBUG", "certbot._internal.main", "Arguments: ['-q']")
	line("DEBUG", "certbot._internal.main", "Discovered plugins: PluginsRegistry(PluginEntryPoint#manual,PluginEntryPoint#null,PluginEntryPoint#standalone,PluginEntryPoint#webroot)")
	line("DEBUG", "certbot._internal.log", "Root logging level set at 30")
	var skipped, failed []string
	for _, l := range lineages {
		line("DEBUG", "certbot._internal.display.obj", "Notifying user: Processing "+l.conf)
		if l.failType == "" {
			line("DEBUG", "certbot._internal.display.obj", "Notifying user: Certificate not yet due for renewal")
			skipped = append(skipped, fmt.Sprintf("%s expires on %s (skipped)", l.fullchain, l.notAfter.Format("2006-01-02")))
			continue
		}
		failed = append(failed, l.fullchain+" (failure)")
		line("INFO", "certbot._internal.renewal", "Certificate is due for renewal, auto-renewing...")
		line("DEBUG", "certbot._internal.plugins.selection", "Requested authenticator standalone and installer None")
		line("INFO", "certbot._internal.plugins.selection", "Plugins selected: Authenticator standalone, Installer None")
		line("DEBUG", "certbot._internal.display.obj", "Notifying user: Renewing an existing certificate for "+l.domain)
		line("INFO", "certbot._internal.auth_handler", "Performing the following challenges:")
		line("INFO", "certbot._internal.auth_handler", "http-01 challenge for "+l.domain)
		line("INFO", "certbot._internal.auth_handler", "Waiting for verification...")
		t = t.Add(time.Second)
		line("INFO", "certbot._internal.auth_handler", "Challenge failed for domain "+l.domain)
		line("INFO", "certbot._internal.auth_handler", "http-01 challenge for "+l.domain)
		line("DEBUG", "certbot._internal.display.obj", "Notifying user: \n"+
			"Certbot failed to authenticate some domains (authenticator: standalone). The Certificate Authority reported these problems:\n"+
			"  Domain: "+l.domain+"\n"+
			"  Type:   "+l.failType+"\n"+
			"  Detail: "+l.failDetail+"\n\n"+
			"Hint: The Certificate Authority failed to download the challenge files from the temporary standalone webserver started by Certbot on :80. Ensure that the listed domains point to this machine and that it can accept inbound connections from the internet.\n")
		line("DEBUG", "certbot._internal.error_handler", "Encountered exception:\n"+tracebackHead+authFrames)
		line("DEBUG", "certbot._internal.error_handler", "Calling registered functions")
		line("INFO", "certbot._internal.auth_handler", "Cleaning up challenges")
		line("ERROR", "certbot._internal.renewal", "Failed to renew certificate "+l.name+" with error: Some challenges have failed.")
		line("DEBUG", "certbot._internal.renewal", "Traceback was:\n"+tracebackHead+renewFrames+authFrames)
	}
	const frame = "- - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - -"
	line("DEBUG", "certbot._internal.display.obj", "Notifying user: \n"+frame)
	if len(skipped) > 0 {
		line("DEBUG", "certbot._internal.display.obj", "Notifying user: The following certificates are not due for renewal yet:")
		line("DEBUG", "certbot._internal.display.obj", "Notifying user:   "+strings.Join(skipped, "\n  "))
	}
	if len(failed) == 0 {
		line("DEBUG", "certbot._internal.display.obj", "Notifying user: No renewals were attempted.")
		line("DEBUG", "certbot._internal.display.obj", "Notifying user: "+frame)
		return b.String()
	}
	line("ERROR", "certbot._internal.renewal", "All renewals failed. The following certificates could not be renewed:")
	line("ERROR", "certbot._internal.renewal", "  "+strings.Join(failed, "\n  "))
	line("DEBUG", "certbot._internal.display.obj", "Notifying user: "+frame)
	summary := fmt.Sprintf("%d renew failure(s), 0 parse failure(s)", len(failed))
	line("DEBUG", "certbot._internal.log", "Exiting abnormally:\n"+tracebackHead+exitFrames+summary)
	line("ERROR", "certbot._internal.log", summary)
	return b.String()
}

const tracebackHead = "Traceback (most recent call last):\n"

const authFrames = `  File "/usr/lib/python3/dist-packages/certbot/_internal/auth_handler.py", line 106, in handle_authorizations
    self._poll_authorizations(authzrs, max_retries, best_effort)
  File "/usr/lib/python3/dist-packages/certbot/_internal/auth_handler.py", line 206, in _poll_authorizations
    raise errors.AuthorizationError('Some challenges have failed.')
certbot.errors.AuthorizationError: Some challenges have failed.
`

// renewFrames precede authFrames in the renewal error's traceback.
const renewFrames = `  File "/usr/lib/python3/dist-packages/certbot/_internal/renewal.py", line 532, in handle_renewal_request
    main.renew_cert(lineage_config, plugins, renewal_candidate)
  File "/usr/lib/python3/dist-packages/certbot/_internal/main.py", line 1540, in renew_cert
    renewed_lineage = _get_and_save_cert(le_client, config, lineage=lineage)
  File "/usr/lib/python3/dist-packages/certbot/_internal/main.py", line 126, in _get_and_save_cert
    renewal.renew_cert(config, domains, le_client, lineage)
  File "/usr/lib/python3/dist-packages/certbot/_internal/renewal.py", line 395, in renew_cert
    new_cert, new_chain, new_key, _ = le_client.obtain_certificate(domains, new_key)
  File "/usr/lib/python3/dist-packages/certbot/_internal/client.py", line 428, in obtain_certificate
    orderr = self._get_order_and_authorizations(csr.data, self.config.allow_subset_of_names)
  File "/usr/lib/python3/dist-packages/certbot/_internal/client.py", line 496, in _get_order_and_authorizations
    authzr = self.auth_handler.handle_authorizations(orderr, self.config, best_effort)
`

const exitFrames = `  File "/usr/bin/certbot", line 33, in <module>
    sys.exit(load_entry_point('certbot==2.1.0', 'console_scripts', 'certbot')())
  File "/usr/lib/python3/dist-packages/certbot/main.py", line 19, in main
    return internal_main.main(cli_args)
  File "/usr/lib/python3/dist-packages/certbot/_internal/main.py", line 1736, in main
    return config.func(config, plugins)
  File "/usr/lib/python3/dist-packages/certbot/_internal/main.py", line 1629, in renew
    renewal.handle_renewal_request(config)
  File "/usr/lib/python3/dist-packages/certbot/_internal/renewal.py", line 558, in handle_renewal_request
    raise errors.Error(
certbot.errors.Error: `
