package certmanager

import (
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/logparse"
)

func obj(t testing.TB, s string) *unstructured.Unstructured {
	t.Helper()
	// As the dynamic client decodes it: integers are int64.
	var u unstructured.Unstructured
	if err := u.UnmarshalJSON([]byte(s)); err != nil {
		t.Fatalf("%v: %s", err, s)
	}
	return &u
}

// certificate is a Certificate of namespace web, name shop, with the status given.
func certificate(status string) string {
	return `{"apiVersion":"cert-manager.io/v1","kind":"Certificate",
	"metadata":{"namespace":"web","name":"shop"},
	"spec":{"secretName":"shop-tls","commonName":"shop.example.com","dnsNames":["shop.example.com","www.shop.example.com"],
	"issuerRef":{"name":"letsencrypt","kind":"ClusterIssuer"}},
	"status":` + status + `}`
}

// The Order of the failed request and its Challenges, as cert-manager's ACME controllers
// write them after the CA marked the authorization invalid.
const (
	invalidOrderObj = `{"apiVersion":"acme.cert-manager.io/v1","kind":"Order",
	"metadata":{"namespace":"web","name":"shop-2-1234567890","uid":"o-1","creationTimestamp":"2026-12-01T10:00:00Z",
	"annotations":{"cert-manager.io/certificate-name":"shop","cert-manager.io/certificate-revision":"2"}},
	"status":{"state":"invalid","reason":"","failureTime":"2026-12-01T10:01:00Z"}}`
	olderOrderObj = `{"apiVersion":"acme.cert-manager.io/v1","kind":"Order",
	"metadata":{"namespace":"web","name":"shop-1-999","uid":"o-0","creationTimestamp":"2026-09-01T10:00:00Z",
	"annotations":{"cert-manager.io/certificate-name":"shop","cert-manager.io/certificate-revision":"1"}},
	"status":{"state":"valid"}}`
	dnsChallengeObj = `{"apiVersion":"acme.cert-manager.io/v1","kind":"Challenge",
	"metadata":{"namespace":"web","name":"shop-2-1234567890-1","ownerReferences":[{"apiVersion":"acme.cert-manager.io/v1","kind":"Order","name":"shop-2-1234567890","uid":"o-1"}]},
	"spec":{"type":"DNS-01","dnsName":"shop.example.com"},
	"status":{"processing":false,"presented":false,"state":"invalid",
	"reason":"Error accepting authorization: acme: authorization error for shop.example.com: 400 urn:ietf:params:acme:error:dns: DNS problem: NXDOMAIN looking up TXT for _acme-challenge.shop.example.com - check that a DNS record exists for this domain"}}`
	otherChallengeObj = `{"apiVersion":"acme.cert-manager.io/v1","kind":"Challenge",
	"metadata":{"namespace":"web","name":"api-1-55-1","ownerReferences":[{"kind":"Order","name":"api-1-55","uid":"o-9"}]},
	"status":{"state":"invalid","reason":"acme: authorization error for api.example.com: 403 urn:ietf:params:acme:error:caa: CAA record for api.example.com prevents issuance"}}`
	pendingHTTPChallengeObj = `{"apiVersion":"acme.cert-manager.io/v1","kind":"Challenge",
	"metadata":{"namespace":"web","name":"shop-2-1234567890-2","ownerReferences":[{"apiVersion":"acme.cert-manager.io/v1","kind":"Order","name":"shop-2-1234567890","uid":"o-1"}]},
	"spec":{"type":"HTTP-01","dnsName":"www.shop.example.com"},
	"status":{"processing":true,"presented":true,"state":"pending",
	"reason":"Waiting for HTTP-01 challenge propagation: failed to perform self check GET request 'http://www.shop.example.com/.well-known/acme-challenge/x': Get \"http://www.shop.example.com/.well-known/acme-challenge/x\": dial tcp 203.0.113.7:80: connect: connection refused"}}`
)

const issuingFailed = `"The certificate request has failed to complete and will be retried: Failed to wait for order resource \"shop-2-1234567890\" to become ready: order is in \"invalid\" state: "`

func TestClassify(t *testing.T) {
	day := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		name               string
		status             string
		orders, challenges []string
		reason             string
		message            string // a substring
		lastFailure        time.Time
		attempts           int64
	}{
		{name: "ready and up to date",
			status: `{"conditions":[{"type":"Ready","status":"True","reason":"Ready","message":"Certificate is up to date and has not expired","observedGeneration":1,"lastTransitionTime":"2026-09-01T10:02:00Z"}],
			"notAfter":"2026-11-30T09:02:00Z","notBefore":"2026-09-01T09:02:01Z","renewalTime":"2026-10-31T09:02:00Z","revision":1}`,
			reason: "none"},
		{name: "renewal failing leaves Ready=True: the Issuing condition and the invalid order's DNS challenge tell",
			status: `{"conditions":[{"type":"Ready","status":"True","reason":"Ready","message":"Certificate is up to date and has not expired"},
			{"type":"Issuing","status":"False","reason":"Failed","message":` + issuingFailed + `}],
			"failedIssuanceAttempts":2,"lastFailureTime":"2026-12-01T10:01:00Z","notAfter":"2026-12-08T09:02:00Z","renewalTime":"2026-11-08T09:02:00Z","revision":1}`,
			orders: []string{olderOrderObj, invalidOrderObj}, challenges: []string{otherChallengeObj, dnsChallengeObj},
			reason: "dns", message: "NXDOMAIN looking up TXT", lastFailure: day("2026-12-01T10:01:00Z"), attempts: 2},
		{name: "invalid order without its objects (not listed yet): unknown, the Certificate's message",
			status: `{"conditions":[{"type":"Ready","status":"False","reason":"DoesNotExist","message":"Issuing certificate as Secret does not exist"},
			{"type":"Issuing","status":"False","reason":"Failed","message":` + issuingFailed + `}],
			"failedIssuanceAttempts":1,"lastFailureTime":"2026-12-01T10:01:00Z"}`,
			challenges: []string{otherChallengeObj},
			reason:     "unknown", message: `order is in "invalid" state`, lastFailure: day("2026-12-01T10:01:00Z"), attempts: 1},
		{name: "rate limited by the CA: the request's message carries the problem type",
			status: `{"conditions":[{"type":"Ready","status":"False","reason":"DoesNotExist","message":"Issuing certificate as Secret does not exist"},
			{"type":"Issuing","status":"False","reason":"Failed","message":"The certificate request has failed to complete and will be retried: Failed to create Order: 429 urn:ietf:params:acme:error:rateLimited: Error creating new order :: too many certificates already issued for exact set of domains"}],
			"failedIssuanceAttempts":3,"lastFailureTime":"2026-12-01T10:01:00Z"}`,
			reason: "rate_limited", message: "too many certificates", lastFailure: day("2026-12-01T10:01:00Z"), attempts: 3},
		{name: "between a failure and its retry: the failure stands",
			status: `{"conditions":[{"type":"Ready","status":"True","reason":"Ready","message":"Certificate is up to date and has not expired"}],
			"failedIssuanceAttempts":4,"lastFailureTime":"2026-12-01T10:01:00Z","notAfter":"2026-12-08T09:02:00Z"}`,
			reason: "unknown", message: "4 failed issuance attempts", lastFailure: day("2026-12-01T10:01:00Z"), attempts: 4},
		{name: "issuance under way, HTTP-01 self check refused",
			status: `{"conditions":[{"type":"Ready","status":"False","reason":"DoesNotExist","message":"Issuing certificate as Secret does not exist"},
			{"type":"Issuing","status":"True","reason":"DoesNotExist","message":"Issuing certificate as Secret does not exist"}]}`,
			orders: []string{invalidOrderObj}, challenges: []string{pendingHTTPChallengeObj},
			reason: "connection", message: "Waiting for HTTP-01 challenge propagation"},
		{name: "issuer changed: a reissue under way, not a fault by itself",
			status: `{"conditions":[{"type":"Ready","status":"False","reason":"IncorrectIssuer","message":"Issuing certificate as Existing issued Secret is not up to date for spec: [spec.issuerRef]"}]}`,
			reason: "unknown", message: "spec.issuerRef"},
		{name: "Secret claimed by another Certificate: config",
			status: `{"conditions":[{"type":"Ready","status":"False","reason":"IncorrectCertificate","message":"Issuing certificate as Secret was previously issued for \"web/shop-old\""}]}`,
			reason: "config", message: "previously issued"},
		{name: "request denied by an approver: config",
			status: `{"conditions":[{"type":"Ready","status":"False","reason":"DoesNotExist","message":"Issuing certificate as Secret does not exist"},
			{"type":"Issuing","status":"False","reason":"Denied","message":"The certificate request has failed to complete and will be retried: No policy approved this request"}],
			"failedIssuanceAttempts":1,"lastFailureTime":"2026-12-01T10:01:00Z"}`,
			reason: "config", message: "No policy approved", lastFailure: day("2026-12-01T10:01:00Z"), attempts: 1},
		{name: "no status yet: nothing said",
			status: `{}`, reason: "none"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var orders, challenges []*unstructured.Unstructured
			for _, o := range tc.orders {
				orders = append(orders, obj(t, o))
			}
			for _, c := range tc.challenges {
				challenges = append(challenges, obj(t, c))
			}
			s, err := Classify(obj(t, certificate(tc.status)), orders, challenges)
			if err != nil {
				t.Fatal(err)
			}
			if s.Name != "shop" || strings.Join(s.Domains, ",") != "shop.example.com,www.shop.example.com" {
				t.Errorf("object: %+v", s)
			}
			if s.Reason != tc.reason || s.Failed() != (tc.reason != "none") {
				t.Errorf("reason %q, want %q", s.Reason, tc.reason)
			}
			if !strings.Contains(s.Message, tc.message) {
				t.Errorf("message %q, want it to contain %q", s.Message, tc.message)
			}
			if !s.LastFailure.Equal(tc.lastFailure) || s.FailedAttempts != tc.attempts {
				t.Errorf("last failure %v attempts %d, want %v %d", s.LastFailure, s.FailedAttempts, tc.lastFailure, tc.attempts)
			}
		})
	}
}

// TestClassifyMalformed: a status cert-manager cannot have written is an error naming the
// field.
func TestClassifyMalformed(t *testing.T) {
	for status, want := range map[string]string{
		`{"notAfter":"tomorrow"}`:                         "status.notAfter: ",
		`{"renewalTime":42}`:                              "status.renewalTime: ",
		`{"failedIssuanceAttempts":"two"}`:                "status.failedIssuanceAttempts: ",
		`{"conditions":{"type":"Ready"}}`:                 "status.conditions: ",
		`{"conditions":["Ready"]}`:                        "status.conditions[0]: ",
		`{"conditions":[{"type":"Ready","status":true}]}`: "status.conditions[0].status: ",
		`{"lastFailureTime":"2026-12-01 10:01:00"}`:       "status.lastFailureTime: ",
	} {
		_, err := Classify(obj(t, certificate(status)), nil, nil)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: error %v, want %q…", status, err, want)
		}
	}
	bad := obj(t, certificate(`{}`))
	bad.Object["spec"].(map[string]any)["dnsNames"] = "shop.example.com"
	if _, err := Classify(bad, nil, nil); err == nil || !strings.HasPrefix(err.Error(), "spec.dnsNames: ") {
		t.Errorf("dnsNames a string: %v", err)
	}
}

// FuzzClassify: any JSON status, Order and Challenge: no panic, and a reason of the fixed
// vocabulary.
func FuzzClassify(f *testing.F) {
	f.Add(`{"conditions":[{"type":"Issuing","status":"False","reason":"Failed","message":`+issuingFailed+`}],"failedIssuanceAttempts":1}`,
		invalidOrderObj, dnsChallengeObj)
	f.Add(`{"conditions":[{"type":"Ready","status":"False","reason":"IncorrectIssuer"}]}`, olderOrderObj, pendingHTTPChallengeObj)
	f.Fuzz(func(t *testing.T, status, order, challenge string) {
		var crt, o, c unstructured.Unstructured
		if crt.UnmarshalJSON([]byte(certificate(status))) != nil {
			return
		}
		var orders, challenges []*unstructured.Unstructured
		if o.UnmarshalJSON([]byte(order)) == nil {
			orders = append(orders, &o)
		}
		if c.UnmarshalJSON([]byte(challenge)) == nil {
			challenges = append(challenges, &c)
		}
		s, err := Classify(&crt, orders, challenges)
		if err != nil {
			return
		}
		if s.Reason != "none" && !slices.Contains(logparse.Reasons, s.Reason) {
			t.Errorf("reason %q not in the vocabulary", s.Reason)
		}
	})
}
