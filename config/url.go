package config

import (
	"fmt"
	"net/url"
)

// URL is a URL from the config. It is shown redacted (on /config, in logs): the password of
// its userinfo and every query value may be credentials (https://user:pass@host/dir?token=…).
type URL struct{ *url.URL }

// UnmarshalYAML parses the URL; it must be absolute with a host.
func (u *URL) UnmarshalYAML(unmarshal func(any) error) error {
	var s string
	if err := unmarshal(&s); err != nil {
		return err
	}
	p, err := url.Parse(s)
	if err != nil {
		return err
	}
	if p.Scheme == "" || p.Host == "" {
		return fmt.Errorf("%q is not an absolute URL with a host", Redact(p))
	}
	u.URL = p
	return nil
}

// MarshalYAML renders the URL redacted.
func (u URL) MarshalYAML() (any, error) {
	if u.URL == nil {
		return nil, nil
	}
	return Redact(u.URL), nil
}

// String is the redacted URL, so that a URL logged by accident shows no secret.
func (u URL) String() string { return Redact(u.URL) }

// Redact returns u with the password and every query value replaced by <secret>.
func Redact(u *url.URL) string {
	if u == nil {
		return ""
	}
	r := *u
	if _, ok := r.User.Password(); ok {
		r.User = url.UserPassword(r.User.Username(), redacted)
	}
	if r.RawQuery != "" {
		q := r.Query()
		for k := range q {
			q[k] = []string{redacted}
		}
		r.RawQuery = q.Encode()
	}
	return r.String()
}

const redacted = "<secret>"
