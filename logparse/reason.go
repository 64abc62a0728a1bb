package logparse

import "strings"

// Reasons is the fixed vocabulary of the `reason` label of cert_renewal_failure, besides
// "none". Classify never returns anything else.
var Reasons = []string{"dns", "connection", "unauthorized", "caa", "rate_limited", "hook",
	"network", "account", "lock", "config", "acme_server", "unknown"}

// acmeTypes maps ACME problem types (RFC 8555 §6.7 and the legacy urn:acme:error: prefix, as
// listed in acme/messages.py ERROR_CODES) to a reason. "connection", "unauthorized" and
// "incorrectResponse" are refined by the detail text in Classify.
var acmeTypes = map[string]string{
	"dns": "dns", "dnssec": "dns", "unknownHost": "dns",
	"connection": "connection", "tls": "connection",
	"unauthorized": "unauthorized", "incorrectResponse": "unauthorized",
	"caa":                 "caa",
	"rateLimited":         "rate_limited",
	"accountDoesNotExist": "account", "externalAccountRequired": "account",
	"invalidContact": "account", "invalidEmail": "account", "unsupportedContact": "account",
	"badPublicKey":   "account",
	"serverInternal": "acme_server", "badNonce": "acme_server", "malformed": "acme_server",
	"orderNotReady": "acme_server", "badCSR": "acme_server", "badSignatureAlgorithm": "acme_server",
	"rejectedIdentifier": "acme_server", "unsupportedIdentifier": "acme_server",
	"alreadyRevoked": "acme_server", "badRevocationReason": "acme_server",
}

// typePriority orders reasons when one text names several problem types (a "compound" problem
// or several failed challenges): the most actionable first.
var typePriority = []string{"rate_limited", "caa", "dns", "connection", "unauthorized", "account", "acme_server"}

// dnsHints mark validation failures that are DNS trouble whatever the problem type: Boulder
// reports a missing TXT record as "unauthorized" and a failed lookup as "dns" or "connection";
// Pebble says "could not resolve URL" for any failed lookup and "… for DNS challenge" for a
// missing or wrong TXT record.
var dnsHints = []string{"dns problem", "nxdomain", "servfail", "txt record", "no valid a records",
	"no valid ip addresses", "while resolving", "no such host", "refused (dns", "dns query",
	"could not resolve", "for dns challenge", "_acme-challenge"}

// accountProblemHints mark an "unauthorized" problem that is about the account, not the
// validation (Boulder: `Account is not valid, has status "deactivated"`; Pebble: "Account has
// been deactivated").
var accountProblemHints = []string{"account is not valid", "account has been deactivated", "account is deactivated"}

// networkHints are errors certbot itself gets talking to the ACME server (requests/urllib3
// wording), as opposed to the CA failing to reach the validated host.
var networkHints = []string{"httpsconnectionpool", "httpconnectionpool", "max retries exceeded",
	"failed to establish a new connection", "connection aborted", "read timed out",
	"connecttimeouterror", "newconnectionerror", "name or service not known",
	"temporary failure in name resolution", "nodename nor servname", "sslerror",
	"certificate verify failed", "remote end closed connection", "connection reset by peer",
	"network is unreachable"}

var serverHints = []string{"internal server error", "service unavailable", "bad gateway",
	"gateway time-out", "gateway timeout", "the server experienced an internal error",
	"unexpected response from", "error decoding"}

var accountHints = []string{"account at", "account does not exist", "unable to register an account",
	"no account", "account not found", "accountdoesnotexist"}

// configHints are certbot's errors about its local setup: the authenticator cannot work as
// configured (standalone's port is taken, the webroot cannot be written, nginx's configuration
// is broken, the plugin is not installed) or the command names no lineage.
var configHints = []string{"could not bind tcp port", "problem binding to port", "couldn't create root for",
	"does not exist or is not a directory", "every requested domain must have a webroot",
	"missing parts of webroot configuration", "plugin is not working", "does not appear to be installed",
	"nginx restart failed", "could not find a usable 'nginx' binary", "no certificate found with name",
	"missing command line flag"}

// Classify maps certbot's error text (and any problem types and details it carries) to a
// reason of the fixed vocabulary.
func Classify(text string) string {
	lower := strings.ToLower(text)
	if strings.Contains(lower, "another instance of certbot is already running") {
		return "lock"
	}
	if strings.Contains(lower, "-hook command ") && (strings.Contains(lower, "in the path") || strings.Contains(lower, "not executable")) {
		return "hook" // HookCommandNotFound: a hook (e.g. --manual-auth-hook) that cannot be run
	}
	if r := byACMEType(text, lower); r != "" {
		return r
	}
	switch {
	case containsAny(lower, networkHints),
		// acme's "Requesting <host><path>: <errno text>" when it cannot connect to the CA
		strings.HasPrefix(lower, "requesting ") || strings.Contains(lower, ": requesting "):
		return "network"
	case strings.Contains(lower, "too many") || strings.Contains(lower, "rate limit"):
		return "rate_limited"
	case strings.Contains(lower, "caa record"):
		return "caa"
	case containsAny(lower, dnsHints):
		return "dns"
	case containsAny(lower, accountHints):
		return "account"
	case containsAny(lower, configHints):
		return "config"
	case containsAny(lower, serverHints):
		return "acme_server"
	}
	return "unknown"
}

// ClassifyProblem classifies one challenge problem as listed by certbot ("Type: connection").
func ClassifyProblem(p Problem) string {
	if r := refine(acmeTypes[p.Type], strings.ToLower(p.Detail)); r != "" {
		return r
	}
	return Classify(p.Type + " " + p.Detail)
}

// byACMEType finds "urn:ietf:params:acme:error:<type>" (or the legacy "urn:acme:error:") in
// text and returns the highest-priority reason among the types found.
func byACMEType(text, lower string) string {
	found := map[string]bool{}
	for _, prefix := range []string{"urn:ietf:params:acme:error:", "urn:acme:error:"} {
		for rest := text; ; {
			i := strings.Index(rest, prefix)
			if i < 0 {
				break
			}
			rest = rest[i+len(prefix):]
			n := 0
			for n < len(rest) && isIdent(rest[n]) {
				n++
			}
			if r := acmeTypes[rest[:n]]; r != "" {
				found[refine(r, lower)] = true
			}
		}
	}
	for _, r := range typePriority {
		if found[r] {
			return r
		}
	}
	return ""
}

// refine reclassifies a validation failure whose detail shows DNS trouble, and a refusal that
// is about the account.
func refine(reason, lowerDetail string) string {
	switch {
	case reason == "unauthorized" && containsAny(lowerDetail, accountProblemHints):
		return "account"
	case (reason == "connection" || reason == "unauthorized") && containsAny(lowerDetail, dnsHints):
		return "dns"
	}
	return reason
}

// problemsReason is the most actionable reason among failed challenges, "" for none.
func problemsReason(problems []Problem) string {
	reason := ""
	for _, p := range problems {
		if r := ClassifyProblem(p); reason == "" || rank(r) < rank(reason) {
			reason = r
		}
	}
	return reason
}

// hookCaused says whether a failed hook explains the failure: a pre hook a failure certbot
// could not attribute or a local setup failure (the web server it was to stop still holds the
// port), a manual auth hook also a failed validation (publishing the challenge is its job).
// The CA's other verdicts (rate limit, CAA, account, server) stand.
func hookCaused(reason string, hooks []HookFailure) string {
	for _, h := range hooks {
		switch reason {
		case "unknown", "config":
			if h.Hook == "pre" || h.Hook == "manual-auth" {
				return "hook"
			}
		case "unauthorized", "dns", "connection":
			if h.Hook == "manual-auth" {
				return "hook"
			}
		}
	}
	return reason
}

func rank(reason string) int {
	for i, r := range typePriority {
		if r == reason {
			return i
		}
	}
	return len(typePriority)
}

func isIdent(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
