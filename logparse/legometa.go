package logparse

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// LegoMeta is lego's certificates/<name>.json, written beside <name>.crt, <name>.issuer.crt
// and <name>.key (the key is never read): the certificate's main domain and where the CA
// serves it.
type LegoMeta struct {
	Domain        string `json:"domain"`
	CertURL       string `json:"certUrl"`
	CertStableURL string `json:"certStableUrl"`
}

// MaxLegoMeta bounds the metadata file: lego writes three short strings (about 200 bytes).
const MaxLegoMeta = 16 << 10

// maxURL bounds each URL; CA certificate URLs are well under 200 bytes.
const maxURL = 2048

// ParseLegoMeta decodes and checks lego's certificate metadata.
func ParseLegoMeta(data []byte) (LegoMeta, error) {
	if len(data) > MaxLegoMeta {
		return LegoMeta{}, fmt.Errorf("lego metadata: %d bytes, more than %d", len(data), MaxLegoMeta)
	}
	var m LegoMeta
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		return LegoMeta{}, fmt.Errorf("lego metadata: %w", err)
	}
	if dec.More() {
		return LegoMeta{}, errors.New("lego metadata: data after the JSON object")
	}
	if m.Domain == "" || m.Domain == "." || m.Domain == ".." || len(m.Domain) > MaxName || strings.ContainsAny(m.Domain, " \t\r\n/\\") {
		return LegoMeta{}, fmt.Errorf("lego metadata: bad domain %q", cut(m.Domain, 64))
	}
	for _, u := range []struct{ field, v string }{{"certUrl", m.CertURL}, {"certStableUrl", m.CertStableURL}} {
		if u.v == "" {
			continue // a CA may not give a stable URL; lego leaves it empty
		}
		if err := checkURL(u.v); err != nil {
			return LegoMeta{}, fmt.Errorf("lego metadata: %s: %w", u.field, err)
		}
	}
	if m.CertURL == "" {
		return LegoMeta{}, errors.New("lego metadata: no certUrl")
	}
	return m, nil
}

func checkURL(s string) error {
	if len(s) > maxURL {
		return fmt.Errorf("%d bytes, more than %d", len(s), maxURL)
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("not an absolute http(s) URL: %q", cut(s, 64))
	}
	return nil
}

// LegoFileName is the base name lego gives a domain's files (certificates/<base>.crt …):
// a wildcard's "*" becomes "_", and (4.30.0; not 4.9.1) an IPv6 address's ":" becomes "-";
// lego also punycodes IDNs, which this leaves to the caller.
func LegoFileName(domain string) string {
	return strings.NewReplacer(":", "-", "*", "_").Replace(domain)
}
