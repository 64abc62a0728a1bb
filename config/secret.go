package config

// Secret is a string that the /config page never shows.
type Secret string

const redacted = "<secret>"
