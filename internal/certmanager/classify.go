// Package certmanager reads cert-manager's Certificates (and the ACME Orders and Challenges
// behind them) as cert-manager writes their status, and states their renewal in the shared
// vocabulary of cert_renewal_failure, so that a failing cert-manager renewal pages like a
// failing certbot one.
package certmanager

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/logparse"
)

// State is one Certificate's renewal as its status (and its ACME objects) tell it.
type State struct {
	Name    string
	Domains []string
	// Reason is "none" while nothing fails, else a reason of logparse.Reasons; Message the
	// text it was read from.
	Reason  string
	Message string
	// LastFailure is status.lastFailureTime; zero when not in the status.
	LastFailure    time.Time
	FailedAttempts int64
}

// Failed reports whether the Certificate's issuance is failing or it is not Ready.
func (s *State) Failed() bool { return s.Reason != "none" }

// incorrectCertificate is the Ready reason of a Certificate whose Secret another Certificate
// claims (cert-manager's policies): the two reissue over each other until the config is
// fixed. The other Ready=False reasons (DoesNotExist, Expired, Renewing, IncorrectIssuer,
// SecretMismatch, …) start an issuance, whose own outcome decides.
const incorrectCertificate = "IncorrectCertificate"

// invalidOrder is how a failed ACME order reaches the Certificate (the CertificateRequest's
// message, copied into the Issuing condition): the reason is on the Order and its Challenges.
const invalidOrder = `order is in "invalid" state`

// CertificateNameAnnotation names the Certificate an object of cert-manager was made for: a
// CertificateRequest (and so its Order, which carries the request's annotations) and the
// Secret the certificate is written to.
const CertificateNameAnnotation = "cert-manager.io/certificate-name"

// Classify is a Certificate's state from its object and the Orders and Challenges of its
// namespace (the ones not its own are ignored). A status cert-manager cannot have written is
// an error naming the field.
func Classify(crt *unstructured.Unstructured, orders, challenges []*unstructured.Unstructured) (State, error) {
	s := State{Name: crt.GetName(), Reason: "none"}
	var err error
	str := func(path ...string) string {
		v, _, e := unstructured.NestedString(crt.Object, path...)
		if e != nil && err == nil {
			err = fmt.Errorf("%s: %w", strings.Join(path, "."), e)
		}
		return v
	}
	if cn := str("spec", "commonName"); cn != "" {
		s.Domains = append(s.Domains, cn)
	}
	names, _, e := unstructured.NestedStringSlice(crt.Object, "spec", "dnsNames")
	if e != nil {
		return s, fmt.Errorf("spec.dnsNames: %w", e)
	}
	for _, n := range names {
		if len(s.Domains) == 0 || s.Domains[0] != n {
			s.Domains = append(s.Domains, n)
		}
	}
	// renewalTime and notAfter are not read, but cert-manager always writes them in this
	// format: another one means another writer, whose status is not cert-manager's word.
	var renewalTime, notAfter time.Time
	for _, t := range []struct {
		field string
		to    *time.Time
	}{{"renewalTime", &renewalTime}, {"notAfter", &notAfter}, {"lastFailureTime", &s.LastFailure}} {
		if v := str("status", t.field); v != "" {
			if *t.to, e = time.Parse(time.RFC3339, v); e != nil {
				return s, fmt.Errorf("status.%s: %w", t.field, e)
			}
		}
	}
	if err != nil {
		return s, err
	}
	if s.FailedAttempts, _, e = unstructured.NestedInt64(crt.Object, "status", "failedIssuanceAttempts"); e != nil {
		return s, fmt.Errorf("status.failedIssuanceAttempts: %w", e)
	}
	conds, err := conditions(crt.Object)
	if err != nil {
		return s, err
	}
	ready, issuing := conds["Ready"], conds["Issuing"]
	switch {
	case issuing.status == "False" && issuing.reason == "Denied":
		// The issuing controller copies the CertificateRequest's condition: an approver
		// (approver-policy) refused it, which no retry fixes.
		s.Reason, s.Message = "config", issuing.message
	case issuing.status == "False":
		// Only the issuing controller's failIssueCertificate sets Issuing=False (reason Failed),
		// with lastFailureTime; Ready stays True while the old certificate is valid, so this
		// is the only sign of a failing renewal.
		s.Reason, s.Message = classifyText(issuing.message, crt.GetName(), orders, challenges)
	case !s.LastFailure.IsZero() && s.FailedAttempts > 0:
		// Between a failure and its retry the Issuing condition is gone or True again; the
		// failure stands until an issuance succeeds (which clears lastFailureTime).
		s.Reason, s.Message = "unknown", fmt.Sprintf("%d failed issuance attempts, the last at %s", s.FailedAttempts, s.LastFailure.UTC().Format(time.RFC3339))
	case ready.status == "True":
	case ready.reason == incorrectCertificate:
		s.Reason, s.Message = "config", ready.message
	case ready.status != "":
		// Not Ready and not failed yet: an issuance under way; a challenge that cannot be
		// validated says why ("Waiting for HTTP-01 challenge propagation: …").
		s.Reason, s.Message = classifyText(ready.message, crt.GetName(), orders, challenges)
	}
	return s, nil
}

type condition struct{ status, reason, message string }

// conditions are status.conditions by type.
func conditions(obj map[string]any) (map[string]condition, error) {
	list, _, err := unstructured.NestedSlice(obj, "status", "conditions")
	if err != nil {
		return nil, fmt.Errorf("status.conditions: %w", err)
	}
	out := map[string]condition{}
	for i, c := range list {
		m, ok := c.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("status.conditions[%d]: %T, want an object", i, c)
		}
		var cond condition
		var typ string
		for _, f := range []struct {
			name string
			to   *string
		}{{"type", &typ}, {"status", &cond.status}, {"reason", &cond.reason}, {"message", &cond.message}} {
			if v, ok := m[f.name]; ok {
				if *f.to, ok = v.(string); !ok {
					return nil, fmt.Errorf("status.conditions[%d].%s: %T, want a string", i, f.name, v)
				}
			}
		}
		out[typ] = cond
	}
	return out, nil
}

// classifyText is the reason of a Certificate's message. An invalid order, or a message that
// names no known cause, is explained by the Certificate's ACME objects: a failed Challenge's
// reason, else the Order's.
func classifyText(msg, name string, orders, challenges []*unstructured.Unstructured) (reason, message string) {
	reason = logparse.Classify(msg)
	if reason != "unknown" && !strings.Contains(msg, invalidOrder) {
		return reason, msg
	}
	order := ownOrder(msg, name, orders)
	if order == nil {
		return reason, msg
	}
	best, bestMsg := "", ""
	for _, ch := range challenges {
		if !ownedBy(ch, order) {
			continue
		}
		text, _, _ := unstructured.NestedString(ch.Object, "status", "reason")
		state, _, _ := unstructured.NestedString(ch.Object, "status", "state")
		if text == "" || state == "valid" {
			continue
		}
		if r := classifyChallenge(text); best == "" || best == "unknown" && r != "unknown" {
			best, bestMsg = r, text
		}
	}
	if best != "" && (best != "unknown" || reason == "unknown") {
		return best, bestMsg
	}
	if text, _, _ := unstructured.NestedString(order.Object, "status", "reason"); text != "" {
		if r := logparse.Classify(text); r != "unknown" {
			return r, text
		}
	}
	return reason, msg
}

// classifyChallenge is the reason of a Challenge's status.reason. cert-manager checks a
// challenge itself before asking the CA to validate it: its self check failing is the
// validation that would fail (HTTP-01: the path is not reachable; DNS-01: the record is not
// visible), whatever the wording of the error under it.
func classifyChallenge(text string) string {
	r := logparse.Classify(text)
	if r != "unknown" {
		return r
	}
	switch {
	case strings.HasPrefix(text, "Waiting for HTTP-01 challenge propagation"):
		return "connection"
	case strings.HasPrefix(text, "Waiting for DNS-01 challenge propagation"):
		return "dns"
	}
	return r
}

// ownOrder is the Order the message names (`order resource "x"`), else the newest Order of
// the Certificate: an Order carries its CertificateRequest's annotations, among them
// cert-manager.io/certificate-name (its name, <request>-<hash>, truncates long names).
func ownOrder(msg, name string, orders []*unstructured.Unstructured) *unstructured.Unstructured {
	const quoted = `order resource "`
	if i := strings.Index(msg, quoted); i >= 0 {
		rest := msg[i+len(quoted):]
		if j := strings.IndexByte(rest, '"'); j >= 0 {
			for _, o := range orders {
				if o.GetName() == rest[:j] {
					return o
				}
			}
		}
	}
	var newest *unstructured.Unstructured
	for _, o := range orders {
		if o.GetAnnotations()[CertificateNameAnnotation] == name &&
			(newest == nil || newest.GetCreationTimestamp().Time.Before(o.GetCreationTimestamp().Time)) {
			newest = o
		}
	}
	return newest
}

func ownedBy(obj, owner *unstructured.Unstructured) bool {
	for _, r := range obj.GetOwnerReferences() {
		if r.Kind == "Order" && r.Name == owner.GetName() && (owner.GetUID() == "" || r.UID == owner.GetUID()) {
			return true
		}
	}
	return false
}
