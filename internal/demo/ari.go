package demo

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/ari"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

// window is the renewal window the demo CA suggests for one certificate.
type window struct {
	Start, End  time.Time
	Explanation string
}

// serveARI runs the demo's ACME server on loopback, of which only RFC 9773 is there: the
// directory names its renewalInfo endpoint, which suggests for each certificate the usual
// window (a day from two thirds of its lifetime on) or, for the early ones, a window that has
// begun, as a CA does before a mass revocation. It returns the directory URL.
func (w *World) serveARI(leaves []*testcerts.Cert, early map[*testcerts.Cert]window) (string, error) {
	windows := map[string]window{}
	for _, l := range leaves {
		c := certs.New(l.Cert)
		id, err := ari.CertID(c)
		if err != nil {
			return "", err
		}
		wd, ok := early[l]
		if !ok {
			due := c.RenewalDue()
			wd = window{Start: due, End: due.Add(day)}
		}
		windows[id] = wd
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	base := "http://" + l.Addr().String()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /directory", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(rw).Encode(map[string]string{"renewalInfo": base + "/renewalInfo"})
	})
	mux.HandleFunc("GET /renewalInfo/{id}", func(rw http.ResponseWriter, r *http.Request) {
		wd, ok := windows[r.PathValue("id")]
		if !ok {
			http.NotFound(rw, r)
			return
		}
		rw.Header().Set("Content-Type", "application/json")
		rw.Header().Set("Retry-After", "21600")
		_, _ = fmt.Fprintf(rw, `{"suggestedWindow":{"start":%q,"end":%q}%s}`, wd.Start.UTC().Format(time.RFC3339), wd.End.UTC().Format(time.RFC3339),
			explanation(wd.Explanation))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	w.servers = append(w.servers, srv)
	go func() { _ = srv.Serve(l) }()
	return base + "/directory", nil
}

func explanation(url string) string {
	if url == "" {
		return ""
	}
	return `,"explanationURL":"` + strings.ReplaceAll(url, `"`, "") + `"`
}
