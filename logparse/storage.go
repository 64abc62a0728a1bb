package logparse

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"
)

// StorageKind says what a file of an ACME client's certificate store holds.
type StorageKind string

// Kinds of store files. StorageKey files hold a private key (lego's .pem and .pfx bundles
// too): they are never to be read.
const (
	StorageCert   StorageKind = "cert"   // the certificate chain, leaf first
	StorageIssuer StorageKind = "issuer" // lego's <name>.issuer.crt: the issuer chain alone
	StorageMeta   StorageKind = "meta"   // JSON metadata: ParseCaddyMeta, ParseLegoMeta
	StorageKey    StorageKind = "key"
)

// StorageFile is one file of a Caddy or lego store, classified by its path alone.
type StorageFile struct {
	Name   string // the certificate's storage name: Caddy's site directory, lego's file base
	Issuer string // Caddy: the issuer directory, e.g. acme-v02.api.letsencrypt.org-directory
	Kind   StorageKind
}

// CaddyStorageFile classifies a slash-separated path relative to Caddy's storage root
// (certmagic's FileStorage): certificates/<issuer>/<name>/<name>.crt, .key and .json, with
// <issuer> and <name> as CaddyStorageKey makes them. Anything else (acme/ accounts, locks/,
// ocsp/, last_clean.json) is not a certificate file.
func CaddyStorageFile(rel string) (StorageFile, bool) {
	parts := strings.Split(rel, "/")
	if len(parts) != 4 || parts[0] != "certificates" || !validKey(parts[1]) || !validKey(parts[2]) {
		return StorageFile{}, false
	}
	name := parts[2]
	ext, ok := strings.CutPrefix(parts[3], name)
	kind := map[string]StorageKind{".crt": StorageCert, ".key": StorageKey, ".json": StorageMeta}[ext]
	if !ok || kind == "" {
		return StorageFile{}, false
	}
	return StorageFile{Name: name, Issuer: parts[1], Kind: kind}, true
}

// LegoStorageFile classifies a slash-separated path relative to lego's --path:
// certificates/<name>.crt, .issuer.crt, .json, .key, and with --pem/--pfx .pem and .pfx
// (certificate and key together). <name> is LegoFileName of the first domain (or --filename).
func LegoStorageFile(rel string) (StorageFile, bool) {
	dir, file := path.Split(rel)
	if dir != "certificates/" {
		return StorageFile{}, false
	}
	for _, s := range []struct {
		ext  string
		kind StorageKind
	}{{".issuer.crt", StorageIssuer}, {".crt", StorageCert}, {".json", StorageMeta},
		{".key", StorageKey}, {".pem", StorageKey}, {".pfx", StorageKey}} {
		if name, ok := strings.CutSuffix(file, s.ext); ok {
			if name == "" || name == "." || name == ".." || len(name) > MaxName {
				return StorageFile{}, false
			}
			return StorageFile{Name: name, Kind: s.kind}, true
		}
	}
	return StorageFile{}, false
}

// safeKeyChars is certmagic's safeKeyRE (storage.go): what survives in a storage key.
var safeKeyChars = regexp.MustCompile(`[^\w@.-]`)

// CaddyStorageKey is certmagic's KeyBuilder.Safe (unchanged from 0.17 to 0.25): the directory
// name Caddy stores a name or an issuer key under. Logs carry the raw forms: the name
// "*.example.com" is stored as wildcard_.example.com, the issuer "127.0.0.1:14000-dir" as
// 127.0.0.1-14000-dir.
func CaddyStorageKey(s string) string {
	s = strings.TrimSpace(strings.ToLower(s))
	s = strings.NewReplacer(" ", "_", "+", "_plus_", "*", "wildcard_", ":", "-", "..", "").Replace(s)
	return safeKeyChars.ReplaceAllLiteralString(s, "")
}

func validKey(s string) bool {
	return s != "" && len(s) <= MaxName && s != "." && CaddyStorageKey(s) == s
}

// CaddyMeta is Caddy's <name>.json beside <name>.crt (certmagic's CertificateResource minus
// the PEM): the names and, for ACME issuers, where the certificate came from and (in newer
// versions: 2.11.9 here, not 2.6.2) the CA, the account and the ACME Renewal Information.
type CaddyMeta struct {
	SANs    []string
	URL     string // the certificate's URL at the CA
	CA      string // the ACME directory (newer versions; 2.6.2 wrote only the URL)
	Account string
	// ARI (RFC 9773) as Caddy stored it: the CA's suggested window and the time Caddy chose.
	WindowStart, WindowEnd, SelectedTime time.Time
}

// MaxCaddyMeta bounds Caddy's metadata file (about 700 bytes with ARI).
const MaxCaddyMeta = 64 << 10

// ParseCaddyMeta decodes and checks Caddy's certificate metadata.
func ParseCaddyMeta(data []byte) (CaddyMeta, error) {
	if len(data) > MaxCaddyMeta {
		return CaddyMeta{}, fmt.Errorf("caddy metadata: %d bytes, more than %d", len(data), MaxCaddyMeta)
	}
	var w struct {
		SANs       []string `json:"sans"`
		IssuerData *struct {
			URL         string `json:"url"`
			CA          string `json:"ca"`
			Account     string `json:"account"`
			RenewalInfo *struct {
				Window struct {
					Start time.Time `json:"start"`
					End   time.Time `json:"end"`
				} `json:"suggestedWindow"`
				Selected time.Time `json:"_selectedTime"`
			} `json:"renewal_info"`
		} `json:"issuer_data"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&w); err != nil {
		return CaddyMeta{}, fmt.Errorf("caddy metadata: %w", err)
	}
	if dec.More() {
		return CaddyMeta{}, errors.New("caddy metadata: data after the JSON object")
	}
	if len(w.SANs) == 0 || len(w.SANs) > MaxProblems {
		return CaddyMeta{}, fmt.Errorf("caddy metadata: %d names", len(w.SANs))
	}
	for _, s := range w.SANs {
		if s == "" || len(s) > MaxName || strings.ContainsAny(s, " \t\r\n/\\") {
			return CaddyMeta{}, fmt.Errorf("caddy metadata: bad name %q", cut(s, 64))
		}
	}
	m := CaddyMeta{SANs: w.SANs}
	if d := w.IssuerData; d != nil {
		for _, u := range []struct{ field, v string }{{"url", d.URL}, {"ca", d.CA}, {"account", d.Account}} {
			if u.v != "" {
				if err := checkURL(u.v); err != nil {
					return CaddyMeta{}, fmt.Errorf("caddy metadata: issuer_data.%s: %w", u.field, err)
				}
			}
		}
		m.URL, m.CA, m.Account = d.URL, d.CA, d.Account
		if ri := d.RenewalInfo; ri != nil {
			m.WindowStart, m.WindowEnd, m.SelectedTime = ri.Window.Start, ri.Window.End, ri.Selected
		}
	}
	return m, nil
}

// CaddyIssuerDirectory is the ACME directory URL an issuer key names, as far as the key keeps
// it: certmagic builds the key from the directory's host and its path with slashes turned into
// hyphens (the storage directory also turns the port's colon into one), so the host ends at
// the first hyphen after its last dot, and a number right after it is the port. It is for the
// staging rule (certs.IsStagingDirectory reads the host); "" when the key names no host.
// Caddy 2.6.2's metadata names no CA, so its issuer directory is all there is.
func CaddyIssuerDirectory(key string) string {
	start := strings.LastIndexByte(key, '.') + 1
	host, rest, _ := strings.Cut(key[start:], "-")
	host = key[:start] + host
	if h, port, ok := strings.Cut(host, ":"); ok {
		host, rest = h, port+"-"+rest // the log's raw key keeps the colon
	}
	if port, tail, _ := strings.Cut(rest, "-"); port != "" && strings.Trim(port, "0123456789") == "" {
		host, rest = host+":"+port, tail
	}
	rest = strings.Trim(rest, "-")
	if host == "" || strings.ContainsAny(host, "/?#@[] ") {
		return ""
	}
	u := "https://" + host + "/" + strings.ReplaceAll(rest, "-", "/")
	if rest == "" {
		u = strings.TrimSuffix(u, "/")
	}
	return u
}
