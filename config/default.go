package config

// Default is the built-in config used when no config file exists: what a certbot host needs.
func Default() *Config {
	cfg, err := Parse([]byte(`
files:
  - paths: ["/etc/letsencrypt/live/*/fullchain.pem"]
certbot:
  config_dir: /etc/letsencrypt
  log_file: /var/log/letsencrypt/letsencrypt.log
`))
	if err != nil {
		panic("built-in default config is invalid: " + err.Error())
	}
	return cfg
}
