package logparse

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io/fs"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The stores the real clients left (testdata/*/storage-files.txt, from the capture scripts),
// rebuilt with certificates made now: every certificate file is found and matches its
// metadata, every key is recognised as one (and so never read), nothing else is taken.
func TestStorageLayouts(t *testing.T) {
	for _, listing := range captured(t, "testdata/*/storage-files.txt") {
		dir := filepath.Dir(listing)
		lego := strings.HasPrefix(filepath.Base(dir), "lego-")
		classify := CaddyStorageFile
		if lego {
			classify = LegoStorageFile
		}
		t.Run(dir, func(t *testing.T) {
			data, err := os.ReadFile(listing)
			if err != nil {
				t.Fatal(err)
			}
			root := t.TempDir()
			want := map[string]StorageKind{}
			for _, rel := range strings.Fields(string(data)) {
				rel = strings.TrimPrefix(rel, "./")
				p := filepath.Join(root, filepath.FromSlash(rel))
				if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
					t.Fatal(err)
				}
				var content []byte
				switch {
				case strings.HasSuffix(rel, ".crt"):
					name := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(rel), ".crt"), ".issuer")
					content = testCert(t, name)
				case strings.HasPrefix(rel, "certificates/") && strings.HasSuffix(rel, ".json"):
					// the metadata the client wrote, kept beside the listing
					meta := filepath.Base(rel)
					if !lego {
						parts := strings.Split(rel, "/")
						meta = parts[1] + "--" + parts[3]
					}
					if content, err = os.ReadFile(filepath.Join(dir, meta)); err != nil {
						t.Fatal(err)
					}
				default:
					content = []byte("not read by the classifier\n")
				}
				if err := os.WriteFile(p, content, 0o600); err != nil {
					t.Fatal(err)
				}
				if f, ok := classify(rel); ok {
					want[rel] = f.Kind
				}
			}
			counts := map[StorageKind]int{}
			err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				rel, _ := filepath.Rel(root, p)
				f, ok := classify(filepath.ToSlash(rel))
				if !ok {
					return nil
				}
				counts[f.Kind]++
				switch f.Kind {
				case StorageKey:
					return nil // never opened
				case StorageCert, StorageIssuer:
					b, err := os.ReadFile(p)
					if err != nil {
						return err
					}
					blk, _ := pem.Decode(b)
					c, err := x509.ParseCertificate(blk.Bytes)
					if err != nil {
						return err
					}
					if f.Kind == StorageCert && c.DNSNames[0] != f.Name {
						t.Errorf("%s: certificate for %v in %s's file", rel, c.DNSNames, f.Name)
					}
				case StorageMeta:
					b, err := os.ReadFile(p)
					if err != nil {
						return err
					}
					if lego {
						m, err := ParseLegoMeta(b)
						if err != nil || LegoFileName(m.Domain) != f.Name {
							t.Errorf("%s: %+v %v", rel, m, err)
						}
					} else {
						m, err := ParseCaddyMeta(b)
						if err != nil || CaddyStorageKey(m.SANs[0]) != f.Name || m.URL == "" {
							t.Errorf("%s: %+v %v", rel, m, err)
						}
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if counts[StorageCert] == 0 || counts[StorageCert] != counts[StorageMeta] || counts[StorageCert] != counts[StorageKey] {
				t.Errorf("kinds found %v: want as many certificates as metadata and keys", counts)
			}
			if lego && counts[StorageIssuer] != counts[StorageCert] {
				t.Errorf("lego: %d issuer files for %d certificates", counts[StorageIssuer], counts[StorageCert])
			}
			if n := counts[StorageCert] + counts[StorageMeta] + counts[StorageKey] + counts[StorageIssuer]; n != len(want) {
				t.Errorf("walk found %d files, listing classifies %d", n, len(want))
			}
		})
	}
}

func testCert(t *testing.T, name string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(90 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestStorageFile(t *testing.T) {
	caddy := []struct {
		rel  string
		want StorageFile
		ok   bool
	}{
		{"certificates/acme-v02.api.letsencrypt.org-directory/example.com/example.com.crt", StorageFile{"example.com", "acme-v02.api.letsencrypt.org-directory", StorageCert}, true},
		{"certificates/acme-staging-v02.api.letsencrypt.org-directory/wildcard_.example.com/wildcard_.example.com.key", StorageFile{"wildcard_.example.com", "acme-staging-v02.api.letsencrypt.org-directory", StorageKey}, true},
		{"certificates/local/example.com/example.com.json", StorageFile{"example.com", "local", StorageMeta}, true},
		{"certificates/local/example.com/other.com.crt", StorageFile{}, false},
		{"certificates/local/example.com/example.com.crt.bak", StorageFile{}, false},
		{"certificates/local/Example.com/Example.com.crt", StorageFile{}, false}, // Caddy lowercases
		{"certificates/local/../../x/x.crt", StorageFile{}, false},
		{"acme/acme-v02.api.letsencrypt.org-directory/users/a@b/a.json", StorageFile{}, false},
		{"locks/issue_cert_example.com.lock", StorageFile{}, false},
		{"last_clean.json", StorageFile{}, false},
	}
	for _, tt := range caddy {
		if got, ok := CaddyStorageFile(tt.rel); ok != tt.ok || got != tt.want {
			t.Errorf("CaddyStorageFile(%q) = %+v, %v", tt.rel, got, ok)
		}
	}
	lego := []struct {
		rel  string
		want StorageFile
		ok   bool
	}{
		{"certificates/a.example.crt", StorageFile{"a.example", "", StorageCert}, true},
		{"certificates/a.example.issuer.crt", StorageFile{"a.example", "", StorageIssuer}, true},
		{"certificates/_.a.example.json", StorageFile{"_.a.example", "", StorageMeta}, true},
		{"certificates/a.example.key", StorageFile{"a.example", "", StorageKey}, true},
		{"certificates/a.example.pem", StorageFile{"a.example", "", StorageKey}, true},
		{"certificates/a.example.pfx", StorageFile{"a.example", "", StorageKey}, true},
		{"certificates/.crt", StorageFile{}, false},
		{"certificates/sub/a.example.crt", StorageFile{}, false},
		{"accounts/acme-v02.api.letsencrypt.org/a@b/account.json", StorageFile{}, false},
	}
	for _, tt := range lego {
		if got, ok := LegoStorageFile(tt.rel); ok != tt.ok || got != tt.want {
			t.Errorf("LegoStorageFile(%q) = %+v, %v", tt.rel, got, ok)
		}
	}
	for in, want := range map[string]string{"*.Example.com": "wildcard_.example.com", "127.0.0.1:14000-dir": "127.0.0.1-14000-dir",
		"a b+c": "a_b_plus_c", "../etc": "etc", "x/y\\z": "xyz"} {
		if got := CaddyStorageKey(in); got != want {
			t.Errorf("CaddyStorageKey(%q) = %q, want %q", in, got, want)
		}
	}
	if got := LegoFileName("*.example.com"); got != "_.example.com" {
		t.Errorf("LegoFileName = %q", got)
	}
}

func TestParseLegoMeta(t *testing.T) {
	m, err := ParseLegoMeta([]byte(`{"domain":"a.example","certUrl":"https://acme-staging-v02.api.letsencrypt.org/acme/cert/fa1","certStableUrl":"https://acme-staging-v02.api.letsencrypt.org/acme/cert/fa1"}`))
	if err != nil || m.Domain != "a.example" {
		t.Errorf("%+v %v", m, err)
	}
	for _, bad := range []string{
		``, `[]`, `{}`, `{"domain":"a"}`, `{"domain":"","certUrl":"https://x/y"}`,
		`{"domain":"a","certUrl":"ftp://x/y"}`, `{"domain":"a","certUrl":"/relative"}`,
		`{"domain":"a/../b","certUrl":"https://x/y"}`, `{"domain":"a","certUrl":"https://x/y"} {}`,
		`{"domain":"a","certUrl":"https://x/` + strings.Repeat("y", maxURL) + `"}`,
		`{"domain":1,"certUrl":"https://x/y"}`,
		strings.Repeat(" ", MaxLegoMeta) + `{"domain":"a","certUrl":"https://x/y"}`,
	} {
		if m, err := ParseLegoMeta([]byte(bad)); err == nil {
			t.Errorf("ParseLegoMeta(%.60q) = %+v", bad, m)
		}
	}
}

func TestParseCaddyMeta(t *testing.T) {
	// Caddy 2.6.2's form; 2.11.9's with ARI is read from the captures in TestStorageLayouts.
	m, err := ParseCaddyMeta([]byte(`{"sans":["a.example"],"issuer_data":{"url":"https://127.0.0.1:14000/certZ/19739cffaa12ef0d"}}`))
	if err != nil || m.SANs[0] != "a.example" || m.URL == "" || m.CA != "" || !m.SelectedTime.IsZero() {
		t.Errorf("%+v %v", m, err)
	}
	m, err = ParseCaddyMeta([]byte(`{"sans":["a.example"],"issuer_data":{"url":"https://x/c","ca":"https://x/dir","renewal_info":{"suggestedWindow":{"start":"2027-01-30T07:41:35Z","end":"2027-02-01T07:41:35Z"},"_selectedTime":"2027-02-01T01:02:58Z"}}}`))
	if err != nil || !m.SelectedTime.Equal(time.Date(2027, 2, 1, 1, 2, 58, 0, time.UTC)) || !m.WindowEnd.After(m.WindowStart) {
		t.Errorf("%+v %v", m, err)
	}
	// Caddy's internal issuer keeps no issuer data.
	if _, err := ParseCaddyMeta([]byte(`{"sans":["a.internal"],"issuer_data":null}`)); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{``, `{}`, `{"sans":[]}`, `{"sans":[""]}`, `{"sans":["a b"]}`, `{"sans":"a"}`,
		`{"sans":["a"],"issuer_data":{"url":"x"}}`, `{"sans":["a"],"issuer_data":{"renewal_info":{"_selectedTime":"soon"}}}`,
		`{"sans":["a"]}x`, `{"sans":[` + strings.Repeat(`"a",`, MaxProblems) + `"a"]}`} {
		if m, err := ParseCaddyMeta([]byte(bad)); err == nil {
			t.Errorf("ParseCaddyMeta(%.60q) = %+v", bad, m)
		}
	}
}

func FuzzParseLegoMeta(f *testing.F) {
	f.Add([]byte(`{"domain":"a.example.test","certUrl":"https://127.0.0.1:14000/certZ/7f9166a6dd8025c3","certStableUrl":"https://127.0.0.1:14000/certZ/7f9166a6dd8025c3"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseLegoMeta(data)
		if err == nil && (m.Domain == "" || len(m.Domain) > MaxName || m.CertURL == "" || len(m.CertURL) > maxURL || len(data) > MaxLegoMeta) {
			t.Fatalf("accepted %+v", m)
		}
	})
}

func FuzzParseCaddyMeta(f *testing.F) {
	for _, p := range []string{"testdata/caddy-2.6.2/127.0.0.1-14000-dir--a.example.test.json", "testdata/caddy-2.11.9/127.0.0.1-14000-dir--a.example.test.json"} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseCaddyMeta(data)
		if err == nil && (len(m.SANs) == 0 || len(m.SANs) > MaxProblems || len(data) > MaxCaddyMeta) {
			t.Fatalf("accepted %+v", m)
		}
	})
}

func FuzzStorageFile(f *testing.F) {
	f.Add("certificates/127.0.0.1-14000-dir/a.example.test/a.example.test.crt")
	f.Add("certificates/a.example.test.issuer.crt")
	f.Fuzz(func(t *testing.T, rel string) {
		for _, classify := range []func(string) (StorageFile, bool){CaddyStorageFile, LegoStorageFile} {
			sf, ok := classify(rel)
			if !ok {
				continue
			}
			if sf.Name == "" || strings.ContainsAny(sf.Name, "/") || strings.Contains(sf.Issuer, "/") || sf.Name == ".." || sf.Issuer == ".." {
				t.Fatalf("%q: %+v", rel, sf)
			}
		}
	})
}

// TestCaddyIssuerDirectory: the issuer keys of the captures (storage directories and the
// log's raw keys) and of the public CAs Caddy knows name the directory's host and port.
func TestCaddyIssuerDirectory(t *testing.T) {
	for _, tc := range []struct{ key, want string }{
		{"acme-v02.api.letsencrypt.org-directory", "https://acme-v02.api.letsencrypt.org/directory"},
		{"acme-staging-v02.api.letsencrypt.org-directory", "https://acme-staging-v02.api.letsencrypt.org/directory"},
		{"acme.zerossl.com-v2-DV90", "https://acme.zerossl.com/v2/DV90"},
		{"127.0.0.1-14000-dir", "https://127.0.0.1:14000/dir"},
		{"127.0.0.1:14000-dir", "https://127.0.0.1:14000/dir"},
		{"127.0.0.1-14001-staging-dir", "https://127.0.0.1:14001/staging/dir"},
		{"localhost-14000-dir", "https://localhost:14000/dir"},
		{"ca.internal", "https://ca.internal"},
		{"local", "https://local"},
		{"", ""},
		{"-dir", ""},
	} {
		if got := CaddyIssuerDirectory(tc.key); got != tc.want {
			t.Errorf("CaddyIssuerDirectory(%q) = %q, want %q", tc.key, got, tc.want)
		}
	}
}

// readableDirectory: a host with a dot or a port, a path without dots or hyphens.
var readableDirectory = regexp.MustCompile(`^https://([a-z0-9]+\.[a-z0-9.]*[a-z0-9](:[0-9]+)?|[a-z0-9]+:[0-9]+)(/[A-Za-z0-9_]+)*/?$`)

// FuzzCaddyIssuerDirectory: a directory URL's key survives the way back: the directory the
// key names has the same key (so the staging rule sees the host Caddy used).
func FuzzCaddyIssuerDirectory(f *testing.F) {
	for _, s := range []string{"https://acme-v02.api.letsencrypt.org/directory", "https://127.0.0.1:14001/staging/dir", "https://acme.zerossl.com/v2/DV90", "https://localhost:9/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, dir string) {
		u, err := url.Parse(dir)
		if err != nil || !readableDirectory.MatchString(dir) {
			return // the keys of other forms cannot be read back: see CaddyIssuerDirectory
		}
		if seg, _, _ := strings.Cut(strings.TrimLeft(u.Path, "/"), "/"); seg != "" && strings.Trim(seg, "0123456789") == "" {
			return // a number right after the host reads as its port
		}
		key := caddyIssuerKey(dir)
		back := CaddyIssuerDirectory(key)
		if caddyIssuerKey(back) != key {
			t.Fatalf("%q: key %q names %q (key %q)", dir, key, back, caddyIssuerKey(back))
		}
		if CaddyIssuerDirectory(CaddyStorageKey(key)) != CaddyIssuerDirectory(CaddyStorageKey(caddyIssuerKey(back))) {
			t.Fatalf("%q: the storage key %q reads differently", dir, CaddyStorageKey(key))
		}
	})
}
