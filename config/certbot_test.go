package config

import (
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

// TestCertbotNullMeansDefaults: a bare `certbot:` key asks for certbot with defaults, exactly
// like `certbot: {}`; only leaving the key out disables it.
func TestCertbotNullMeansDefaults(t *testing.T) {
	want := Certbot{ConfigDir: "/etc/letsencrypt", LogFile: "/var/log/letsencrypt/letsencrypt.log",
		HistoryMaxAge: model.Duration(30 * 24 * time.Hour), RescanInterval: model.Duration(time.Minute)}
	for _, doc := range []string{"certbot:\n", "certbot:", "certbot: {}\n", "certbot: ~\n", "certbot: null\n",
		"files: []\ncertbot:\ntargets: []\n"} {
		cfg, err := Parse([]byte(doc))
		if err != nil {
			t.Errorf("%q: %v", doc, err)
			continue
		}
		if cfg.Certbot == nil || *cfg.Certbot != want {
			t.Errorf("%q: certbot = %+v, want %+v", doc, cfg.Certbot, want)
		}
	}
	for _, doc := range []string{"", "files: []\n", "targets: []\n"} {
		cfg, err := Parse([]byte(doc))
		if err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		if cfg.Certbot != nil {
			t.Errorf("%q: certbot = %+v, want disabled", doc, cfg.Certbot)
		}
	}
}
