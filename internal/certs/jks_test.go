package certs

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	keystore "github.com/pavlo-v-chernykh/keystore-go/v4"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

// jksSign appends the digest a JKS keystore ends with: SHA-1 over the password as UTF-16BE,
// "Mighty Aphrodite" and the body. Tests use it to make hand-built bodies pass the integrity
// check, so that what follows it is reached.
func jksSign(body []byte, password string) []byte {
	h := sha1.New()
	for _, r := range password {
		h.Write([]byte{byte(r >> 8), byte(r)})
	}
	h.Write([]byte("Mighty Aphrodite"))
	h.Write(body)
	return h.Sum(slices.Clone(body))
}

// jksBody builds a keystore body from big-endian fields: uint32, uint16 (as u16), strings
// (length-prefixed, as Java writes them) and raw bytes.
type u16 uint16

func jksBody(fields ...any) []byte {
	var b []byte
	for _, f := range fields {
		switch v := f.(type) {
		case int:
			b = binary.BigEndian.AppendUint32(b, uint32(v))
		case uint32:
			b = binary.BigEndian.AppendUint32(b, v)
		case u16:
			b = binary.BigEndian.AppendUint16(b, uint16(v))
		case string:
			b = binary.BigEndian.AppendUint16(b, uint16(len(v)))
			b = append(b, v...)
		case []byte:
			b = append(b, v...)
		}
	}
	return b
}

func TestDecodeJKS(t *testing.T) {
	now := time.Now()
	pki := testcerts.NewPKI("JKS", now)
	leaf := pki.Leaf(testcerts.Options{Now: now})
	other := pki.Leaf(testcerts.Options{CN: "other.test", Now: now})
	l, o, i, r := leaf.Cert.SerialNumber.Text(16), other.Cert.SerialNumber.Text(16), pki.Intermediate.Cert.SerialNumber.Text(16), pki.Root.Cert.SerialNumber.Text(16)
	ks := func(entries ...testcerts.JKSEntry) []byte { return testcerts.JKS("changeit", entries...) }
	server := testcerts.JKSEntry{Alias: "server", Key: true, Chain: []*testcerts.Cert{leaf, pki.Intermediate}}
	root := testcerts.JKSEntry{Alias: "root", Chain: []*testcerts.Cert{pki.Root}}
	keystoreJKS := ks(server, root)

	// A trusted certificate entry whose certificate is not one: the library writes what it is given.
	corrupt := keystore.New(keystore.WithCaseExactAliases())
	for alias, c := range map[string]keystore.Certificate{
		"bad":   {Type: "X.509", Content: []byte{0x30, 0x03, 1, 2, 3}},
		"pgp":   {Type: "PGP", Content: pki.Root.DER},
		"root":  {Type: "X.509", Content: pki.Root.DER},
		"inter": {Type: "X509", Content: pki.Intermediate.DER},
	} {
		if err := corrupt.SetTrustedCertificateEntry(alias, keystore.TrustedCertificateEntry{CreationTime: now, Certificate: c}); err != nil {
			t.Fatal(err)
		}
	}
	var corruptJKS bytes.Buffer
	if err := corrupt.Store(&corruptJKS, []byte("changeit")); err != nil {
		t.Fatal(err)
	}

	const huge = 0xffffffff
	tests := []struct {
		name     string
		data     []byte
		password string
		serials  []string
		aliases  []string
		err      string // exact message, "" for none
		reason   string // DecodeReason, when err is set
	}{
		{name: "key entry then trusted entry", data: keystoreJKS, password: "changeit",
			serials: []string{l, i, r}, aliases: []string{"server", "server", "root"}},
		{name: "key entries first, each in alias order", data: ks(root, testcerts.JKSEntry{Alias: "b-api", Key: true, Chain: []*testcerts.Cert{other, pki.Intermediate}}, testcerts.JKSEntry{Alias: "a-web", Key: true, Chain: []*testcerts.Cert{leaf}}), password: "changeit",
			serials: []string{l, o, i, r}, aliases: []string{"a-web", "b-api", "b-api", "root"}},
		{name: "trust store", data: ks(root, testcerts.JKSEntry{Alias: "inter", Chain: []*testcerts.Cert{pki.Intermediate}}), password: "changeit",
			serials: []string{i, r}, aliases: []string{"inter", "root"}},
		{name: "alias case kept, PEM marker in an alias", data: ks(testcerts.JKSEntry{Alias: "Tomcat -----BEGIN CERTIFICATE-----", Key: true, Chain: []*testcerts.Cert{leaf}}), password: "changeit",
			serials: []string{l}, aliases: []string{"Tomcat -----BEGIN CERTIFICATE-----"}},
		{name: "bad entries beside good ones", data: corruptJKS.Bytes(), password: "changeit",
			serials: []string{i, r}, aliases: []string{"inter", "root"},
			err: "JKS entry \"bad\": x509: malformed tbs certificate\nJKS entry \"pgp\": certificate type \"PGP\" is not X.509", reason: "parse"},
		{name: "no entries", data: ks(), password: "changeit", err: "no certificate found", reason: "parse"},
		{name: "wrong password", data: keystoreJKS, password: "nope", err: errJKSPassword.Error(), reason: "password"},
		{name: "no password", data: keystoreJKS, err: errJKSPassword.Error(), reason: "password"},
		{name: "one byte altered", data: func() []byte {
			d := slices.Clone(keystoreJKS)
			d[len(d)/2] ^= 1
			return d
		}(), password: "changeit", err: errJKSPassword.Error(), reason: "password"},
		{name: "truncated in the key", data: keystoreJKS[:60], password: "changeit", err: "JKS: malformed: entry 0 truncated", reason: "parse"},
		{name: "truncated after the key entry", data: keystoreJKS[:len(keystoreJKS)-sha1.Size-len(pki.Root.DER)], password: "changeit", err: "JKS: malformed: entry 1 truncated", reason: "parse"},
		{name: "digest cut off", data: keystoreJKS[:len(keystoreJKS)-5], password: "changeit", err: "JKS: malformed: read digest: read 20 bytes: unexpected EOF", reason: "parse"},
		{name: "magic alone", data: jksBody(jksMagic), err: "JKS: malformed: truncated header", reason: "parse"},
		{name: "unknown version", data: jksBody(jksMagic, 3, 0), err: "JKS: malformed: unknown version 3", reason: "parse"},
		{name: "unknown tag", data: jksBody(jksMagic, 2, 1, 7, "x", make([]byte, 8)), err: "JKS: malformed: entry 0 has unknown tag 7", reason: "parse"},
		{name: "4 GiB certificate", data: jksBody(jksMagic, 2, 1, 2, "x", make([]byte, 8), "X.509", uint32(huge), []byte("abc")), err: "JKS: malformed: entry 0 truncated", reason: "parse"},
		{name: "4 GiB key", data: jksBody(jksMagic, 2, 1, 1, "x", make([]byte, 8), uint32(huge)), err: "JKS: malformed: entry 0 truncated", reason: "parse"},
		{name: "4 billion certificates in a chain", data: jksBody(jksMagic, 2, 1, 1, "x", make([]byte, 8), 1, []byte{0}, uint32(huge), make([]byte, 64)), err: "JKS: malformed: entry 0 claims 4294967295 certificates", reason: "parse"},
		{name: "alias longer than the file", data: jksBody(jksMagic, 2, 1, 2, u16(0xffff)), err: "JKS: malformed: entry 0 truncated", reason: "parse"},
		{name: "4 billion entries", data: jksBody(jksMagic, 2, uint32(huge)), err: "JKS: malformed: entry 0 truncated", reason: "parse"},
		{name: "more certificates than bounded", data: jksSign(jksBody(jksMagic, 1, maxCerts+1, slices.Repeat(jksBody(2, "a", make([]byte, 8), 0), maxCerts+1)), "changeit"), password: "changeit",
			err: "more than 10000 certificates", reason: "parse"},
		{name: "empty certificate, signed", data: jksSign(jksBody(jksMagic, 1, 1, 2, "a", make([]byte, 8), 0), "changeit"), password: "changeit",
			err: "JKS entry \"a\": x509: malformed certificate", reason: "parse"},
		{name: "jceks", data: jksBody(jceksMagic, 2, 0), password: "changeit", err: errJCEKS.Error(), reason: "parse"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			got, ks, err := DecodeAliases(tc.data, tc.password)
			runtime.ReadMemStats(&after)
			aliases := ks.Aliases
			if !slices.Equal(serials(got), tc.serials) || !slices.Equal(aliases, tc.aliases) {
				t.Errorf("serials %v aliases %q, want %v %q", serials(got), aliases, tc.serials, tc.aliases)
			}
			if msg := errString(err); msg != tc.err {
				t.Errorf("err %q, want %q", msg, tc.err)
			}
			if err != nil && DecodeReason(err) != tc.reason {
				t.Errorf("reason %q, want %q", DecodeReason(err), tc.reason)
			}
			// What a file claims is never allocated before it is found to be there.
			if n := after.TotalAlloc - before.TotalAlloc; n > 16<<20 {
				t.Errorf("allocated %d bytes for a %d-byte input", n, len(tc.data))
			}
			if xs, _ := Decode(tc.data, tc.password); !slices.Equal(serials(xs), tc.serials) {
				t.Errorf("Decode: serials %v, want %v", serials(xs), tc.serials)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestDecodeKeytool reads keystores made by the JDK's keytool, what Java services are given:
// a PKCS#12 key pair imported into a JKS keystore (keytool stores aliases lowercased), a CA
// imported as a trusted entry, a key pair keytool generated itself, and a JCEKS keystore.
func TestDecodeKeytool(t *testing.T) {
	keytool, err := exec.LookPath("keytool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("keytool is required in CI (e2e/install.sh installs it):", err)
		}
		t.Skip("keytool not installed:", err)
	}
	dir := t.TempDir()
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(keytool, args...).CombinedOutput(); err != nil {
			t.Fatalf("keytool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	now := time.Now()
	pki := testcerts.NewPKI("Keytool", now)
	leaf := pki.Leaf(testcerts.Options{CN: "java.test", Now: now})
	p12, root := filepath.Join(dir, "server.p12"), filepath.Join(dir, "root.pem")
	for name, data := range map[string][]byte{p12: leaf.PKCS12("pw", pki.Intermediate), root: pki.Root.PEM()} {
		if err := os.WriteFile(name, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	jks, jceks := filepath.Join(dir, "server.jks"), filepath.Join(dir, "server.jceks")
	store := []string{"-keystore", jks, "-storepass", "changeit", "-noprompt"}
	run("-importkeystore", "-srckeystore", p12, "-srcstoretype", "PKCS12", "-srcstorepass", "pw",
		"-srcalias", "1", "-destalias", "Server", "-deststoretype", "JKS", "-destkeystore", jks, "-deststorepass", "changeit", "-noprompt")
	run(append([]string{"-importcert", "-alias", "Root CA", "-file", root}, store...)...)
	run(append([]string{"-genkeypair", "-alias", "self", "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=self.java.test", "-validity", "30", "-keypass", "changeit"}, store...)...)
	run("-genkeypair", "-alias", "self", "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=self.java.test", "-validity", "30",
		"-storetype", "JCEKS", "-keystore", jceks, "-storepass", "changeit", "-keypass", "changeit")

	data, err := os.ReadFile(jks)
	if err != nil {
		t.Fatal(err)
	}
	got, ks, err := DecodeAliases(data, "changeit")
	if err != nil {
		t.Fatal(err)
	}
	aliases := ks.Aliases
	// Two private key entries (each its own chain), then the trusted entry.
	if want := []int{0, 1, 3}; ks.Keyed != 3 || !slices.Equal(ks.Chains(), want) {
		t.Errorf("keyed %d, chains start at %v, want 3 and %v", ks.Keyed, ks.Chains(), want)
	}
	var cns []string
	for _, c := range got {
		cns = append(cns, c.Subject.CommonName)
	}
	if want := []string{"self.java.test", "java.test", pki.Intermediate.Cert.Subject.CommonName, pki.Root.Cert.Subject.CommonName}; !slices.Equal(cns, want) {
		t.Errorf("subjects %q, want %q", cns, want)
	}
	if want := []string{"self", "server", "server", "root ca"}; !slices.Equal(aliases, want) {
		t.Errorf("aliases %q, want %q", aliases, want)
	}
	if want := []string{leaf.Cert.SerialNumber.Text(16), pki.Intermediate.Cert.SerialNumber.Text(16), pki.Root.Cert.SerialNumber.Text(16)}; !slices.Equal(serials(got[1:]), want) {
		t.Errorf("serials %v, want %v", serials(got[1:]), want)
	}
	if _, _, err := DecodeAliases(data, "wrong"); err != errJKSPassword {
		t.Errorf("wrong password: %v", err)
	}
	data, err = os.ReadFile(jceks)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := DecodeAliases(data, "changeit"); err != errJCEKS {
		t.Errorf("JCEKS: %v", err)
	}
}

// FuzzDecodeJKS feeds the JKS path keystore bodies; with sign, the body gets the digest of the
// fuzzer's password, so that mutations reach the entries past the integrity check.
func FuzzDecodeJKS(f *testing.F) {
	now := time.Now()
	pki := testcerts.NewPKI("Fuzz", now)
	leaf := pki.Leaf(testcerts.Options{Now: now})
	for _, ks := range [][]byte{
		testcerts.JKS("pw", testcerts.JKSEntry{Alias: "server", Key: true, Chain: []*testcerts.Cert{leaf, pki.Intermediate}},
			testcerts.JKSEntry{Alias: "root", Chain: []*testcerts.Cert{pki.Root}}),
		testcerts.JKS("pw", testcerts.JKSEntry{Alias: "root", Chain: []*testcerts.Cert{pki.Root}}),
	} {
		f.Add(ks[:len(ks)-sha1.Size], "pw", true)
		f.Add(ks, "pw", false)
	}
	f.Add(jksBody(jksMagic, 1, 1, 2, "a", make([]byte, 8), 3, []byte{1, 2, 3}), "", true)
	f.Fuzz(func(t *testing.T, body []byte, password string, sign bool) {
		data := body
		if sign {
			data = jksSign(body, password)
		}
		if !isJavaKeystore(data) {
			return
		}
		got, ks, err := DecodeAliases(data, password)
		if len(got) != len(ks.Aliases) || ks.Keyed > len(got) {
			t.Fatalf("%d certificates, %d aliases, %d keyed", len(got), len(ks.Aliases), ks.Keyed)
		}
		if starts := ks.Chains(); len(got) > 0 && (len(starts) == 0 || starts[0] != 0 || !slices.IsSorted(starts)) {
			t.Fatalf("chains start at %v of %d certificates", starts, len(got))
		}
		if len(got) > maxCerts {
			t.Fatalf("%d certificates", len(got))
		}
		for _, c := range got {
			New(c)
		}
		if len(got) == 0 && err == nil {
			t.Fatal("no certificate and no error")
		}
	})
}

func TestKeystoreChains(t *testing.T) {
	for _, tc := range []struct {
		ks   Keystore
		want []int
	}{
		{Keystore{}, nil},
		{Keystore{Aliases: []string{"a", "a", "b"}, Keyed: 3}, []int{0, 2}},
		{Keystore{Aliases: []string{"a", "a", "r1", "r2"}, Keyed: 2}, []int{0, 2}},
		{Keystore{Aliases: []string{"r1", "r2"}}, []int{0}},
		{Keystore{Aliases: []string{"a", "b", "c"}, Keyed: 3}, []int{0, 1, 2}},
	} {
		if got := tc.ks.Chains(); !slices.Equal(got, tc.want) {
			t.Errorf("%+v: chains start at %v, want %v", tc.ks, got, tc.want)
		}
	}
}
