package certs

import "time"

// Location says where a chain was seen; its fields are the location labels of every series.
type Location struct {
	Source  string `json:"source"` // one of the Source constants
	Path    string `json:"path,omitempty"`
	Lineage string `json:"lineage,omitempty"`
	Target  string `json:"target,omitempty"`
	IP      string `json:"ip,omitempty"`
	// Namespace, Secret and Key name a Kubernetes Secret's data key; Namespace, ConfigMap and
	// Key a ConfigMap's (a CA bundle). One of Secret and ConfigMap is set.
	Namespace string `json:"namespace,omitempty"`
	Secret    string `json:"secret,omitempty"`
	ConfigMap string `json:"configmap,omitempty"`
	Key       string `json:"key,omitempty"`
	// Module names the probe module whose client certificate (tls_config.cert_file) the chain
	// is (source client): two modules may use one file.
	Module string `json:"module,omitempty"`
}

// Sources of a Location. Lego and Caddy name the chains of their certificate stores.
const (
	SourceFile       = "file"
	SourceProbe      = "probe"
	SourceKubernetes = "kubernetes"
	SourceLego       = "lego"
	SourceCaddy      = "caddy"
	// SourceClient is a probe module's own client certificate file (mTLS).
	SourceClient = "client"
)

// ClientCertManager is the renewal client of the Secrets cert-manager writes (their chains'
// Location.Source is SourceKubernetes, their lineage the Certificate's namespace/name).
const ClientCertManager = "cert-manager"

// Revocation is the leaf's revocation status as established by one method.
type Revocation struct {
	Method    string    `json:"method"` // ocsp_staple or crl
	Revoked   bool      `json:"revoked"`
	CheckedAt time.Time `json:"checked_at"`
}

// Chain is the certificates of one file or of one probed address, in the order found, with the
// checks made on them. It is immutable once published in a snapshot.
type Chain struct {
	Location
	// Labels are the owner labels of the config entry (files:, targets:, a source's entry)
	// that found the chain; they go on cert_info and, through the rules, on the alerts.
	Labels Labels       `json:"labels,omitempty"`
	Certs  []Cert       `json:"certificates"`
	Verify VerifyResult `json:"verify"`
	// Revocation is nil when no check ran (no staple, no CRL point: normal since 2025).
	Revocation *Revocation `json:"revocation,omitempty"`
	// Usage is UsageClient for certificates the config marks as a TLS client's ("" otherwise:
	// a server's, the default).
	Usage string `json:"usage,omitempty"`
	// DuplicateLineage marks certbot lineages like "name-0001" created by re-running certonly.
	DuplicateLineage bool `json:"duplicate_lineage,omitempty"`
	// KeyMatch is set only when check_key is enabled: whether the private key matches the leaf.
	KeyMatch *bool `json:"key_match,omitempty"`
	// Changed is when a stored chain last changed (a file's mtime or ctime, whichever is
	// later: copies can keep an old mtime, never an old ctime); zero for served chains.
	Changed time.Time `json:"changed,omitzero"`
	// Seen is when a served chain was served (the probe's end); zero for stored chains.
	Seen time.Time `json:"seen,omitzero"`
}
