package certs

import (
	"encoding/pem"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

func crlPEM(der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der}) }

func TestDecodeCRLs(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	pki := testcerts.NewPKI("CRL", now)
	noCN := testcerts.New(testcerts.Options{Org: "No CN Org", IsCA: true, Now: now})
	root := testcerts.CRL(pki.Root, now.Add(-24*time.Hour), now.Add(6*24*time.Hour))
	inter := testcerts.CRL(pki.Intermediate, now.Add(-time.Hour), now.Add(23*time.Hour), big.NewInt(7), big.NewInt(9))
	rootInfo := CRLInfo{Issuer: "CRL Root CA", ThisUpdate: now.Add(-24 * time.Hour), NextUpdate: now.Add(6 * 24 * time.Hour)}
	interInfo := CRLInfo{Issuer: "CRL Intermediate CA", ThisUpdate: now.Add(-time.Hour), NextUpdate: now.Add(23 * time.Hour), Entries: 2}
	garbage := pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: []byte{0x30, 0x03, 1, 2, 3}})
	many := slices.Repeat(crlPEM(root), maxCRLs+1)
	tests := []struct {
		name  string
		data  []byte
		want  []CRLInfo
		found bool
		err   string // a substring of the error; "" for none
	}{
		{"der", root, []CRLInfo{rootInfo}, true, ""},
		{"pem", crlPEM(inter), []CRLInfo{interInfo}, true, ""},
		{"nginx ssl_crl bundle: one per CA, in file order", slices.Concat(crlPEM(inter), crlPEM(root)), []CRLInfo{interInfo, rootInfo}, true, ""},
		{"beside certificates and text", slices.Concat([]byte("# chain and CRL\n"), pki.Intermediate.PEM(), crlPEM(root)), []CRLInfo{rootInfo}, true, ""},
		{"issuer without CN: the DN", testcerts.CRL(noCN, now, now.Add(time.Hour)), []CRLInfo{{Issuer: "O=No CN Org", ThisUpdate: now, NextUpdate: now.Add(time.Hour)}}, true, ""},
		{"garbage CRL block", garbage, nil, true, "PEM block 0 (X509 CRL): x509: malformed"},
		{"garbage among good ones", slices.Concat(crlPEM(root), garbage, crlPEM(inter)), []CRLInfo{rootInfo, interInfo}, true, "PEM block 1 (X509 CRL)"},
		{"more than the bound", many, slices.Repeat([]CRLInfo{rootInfo}, maxCRLs), true, fmt.Sprintf("more than %d CRLs", maxCRLs)},
		{"certificates only: no CRL", pki.Intermediate.PEM(), nil, false, ""},
		{"der certificate: no CRL", pki.Root.DER, nil, false, ""},
		{"der garbage: no CRL (Decode reports it)", []byte{0x30, 0x03, 1, 2, 3}, nil, false, ""},
		{"empty", nil, nil, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, found, err := DecodeCRLs(tc.data)
			if found != tc.found {
				t.Errorf("found = %v, want %v", found, tc.found)
			}
			if !slices.EqualFunc(got, tc.want, func(a, b CRLInfo) bool {
				return a.Issuer == b.Issuer && a.ThisUpdate.Equal(b.ThisUpdate) && a.NextUpdate.Equal(b.NextUpdate) && a.Entries == b.Entries
			}) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("err = %v, want none", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("err = %v, want it to contain %q", err, tc.err)
			}
		})
	}
}

func FuzzDecodeCRLs(f *testing.F) {
	now := time.Now()
	pki := testcerts.NewPKI("Fuzz CRL", now)
	der := testcerts.CRL(pki.Intermediate, now, now.Add(time.Hour), big.NewInt(1))
	f.Add(der)
	f.Add(crlPEM(der))
	f.Add(slices.Concat(pki.Root.PEM(), crlPEM(der)))
	f.Add([]byte("-----BEGIN X509 CRL-----\nMIIB"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, found, err := DecodeCRLs(data)
		if len(got) > maxCRLs {
			t.Fatalf("%d CRLs", len(got))
		}
		if (len(got) > 0 || err != nil) && !found {
			t.Fatalf("CRLs %d, err %v, but found false", len(got), err)
		}
		if !IsPEM(data) && (err != nil || found && len(got) != 1) {
			t.Fatalf("DER: %d CRLs, err %v", len(got), err)
		}
	})
}
