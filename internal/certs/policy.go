package certs

// Policies a leaf can break, the `policy` label of cert_policy_violation.
const (
	// PolicyMaxValidity: a publicly-trusted leaf valid for longer than ballot SC-081 allows at
	// its NotBefore (MaxValidity).
	PolicyMaxValidity = "max_validity"
	// PolicyClientAuth: a leaf used as a TLS client certificate (Chain.Usage UsageClient) whose
	// extended key usages do not allow clientAuth: servers that check (Go, OpenSSL, nginx with
	// ssl_verify_client) refuse it.
	PolicyClientAuth = "client_auth"
)

// UsageClient is the Chain.Usage of certificates a service presents as a TLS client (mTLS): a
// files: entry's `usage: client`.
const UsageClient = "client"

// Violations are the policies the chain's leaf breaks, nil for nearly every chain. A chain whose
// first certificate is a CA (a bundle) has no leaf and breaks none.
func (ch *Chain) Violations() []string {
	if len(ch.Certs) == 0 || ch.Certs[0].IsCA {
		return nil
	}
	leaf := &ch.Certs[0]
	var out []string
	// Only a chain to the system roots is held to the WebPKI's limit: a private CA's (ca_file)
	// certificates may live as long as their owner likes.
	if ch.Verify.Public && leaf.ExceedsMaxValidity() {
		out = append(out, PolicyMaxValidity)
	}
	if ch.Usage == UsageClient && !leaf.ClientAuth() {
		out = append(out, PolicyClientAuth)
	}
	return out
}
