package config

import (
	"path/filepath"

	"github.com/prometheus/common/model"
)

// Files is one `files:` entry: globs of certificate files and how to read them.
type Files struct {
	Paths   []string `yaml:"paths"`
	Exclude []string `yaml:"exclude,omitempty"`
	// Password / PasswordFile open PKCS#12 files.
	Password     Secret `yaml:"password,omitempty"`
	PasswordFile string `yaml:"password_file,omitempty"`
	// CAFile replaces the system roots for the chain check of these files.
	CAFile string `yaml:"ca_file,omitempty"`
	// CheckKey opts in to reading the private key next to each certificate.
	CheckKey bool     `yaml:"check_key,omitempty"`
	KeyPaths []string `yaml:"key_paths,omitempty"`
	// MaxFileSize caps what is read from one file (bytes).
	MaxFileSize    int64          `yaml:"max_file_size,omitempty"`
	RescanInterval model.Duration `yaml:"rescan_interval,omitempty"`
}

func (f *Files) defaults() {
	if f.MaxFileSize == 0 {
		f.MaxFileSize = 4 << 20
	}
	if f.RescanInterval == 0 {
		f.RescanInterval = model.Duration(5 * 60e9)
	}
}

func (f *Files) validate(path string) error {
	if len(f.Paths) == 0 {
		return fieldError(path+".paths", "must list at least one glob")
	}
	for i, p := range append(append([]string{}, f.Paths...), f.Exclude...) {
		if _, err := filepath.Match(p, ""); err != nil {
			return fieldError(path+".paths", "bad glob %q (#%d): %v", p, i, err)
		}
	}
	if f.Password != "" && f.PasswordFile != "" {
		return fieldError(path+".password_file", "password and password_file are mutually exclusive")
	}
	if f.MaxFileSize < 0 {
		return fieldError(path+".max_file_size", "must be positive")
	}
	return nil
}

func (f *Files) redact() {
	if f.Password != "" {
		f.Password = redacted
	}
}
