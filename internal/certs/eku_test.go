package certs

import (
	"crypto/x509"
	"encoding/asn1"
	"testing"
)

func TestEKULabel(t *testing.T) {
	for _, tc := range []struct {
		name    string
		usages  []x509.ExtKeyUsage
		unknown []asn1.ObjectIdentifier
		want    string
	}{
		{"no extension: unrestricted", nil, nil, "any"},
		{"serverAuth alone: the WebPKI default, left out", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, nil, ""},
		{"label order, not certificate order", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth}, nil, "server_auth,client_auth"},
		{"clientAuth alone", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, nil, "client_auth"},
		{"repeated usage once", []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageClientAuth}, nil, "client_auth"},
		{"known to Go, not named: other", []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageIPSECTunnel}, nil, "server_auth,other"},
		{"unknown OID: other", nil, []asn1.ObjectIdentifier{{1, 2, 3, 4}}, "other"},
		{"anyExtendedKeyUsage", []x509.ExtKeyUsage{x509.ExtKeyUsageAny}, nil, "any"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ekuLabel(&x509.Certificate{ExtKeyUsage: tc.usages, UnknownExtKeyUsage: tc.unknown})
			if got != tc.want {
				t.Errorf("ekuLabel = %q, want %q", got, tc.want)
			}
		})
	}
}
