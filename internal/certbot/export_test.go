package certbot

import "github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"

// Published is the snapshot as the source publishes it, for the metrics tests.
func Published(s *Snapshot) *source.Snapshot { return s.source() }
