// Package health describes how a background source is doing, for the exporter's self metrics.
package health

import "time"

// Status is one source's state as of its last pass. Errors holds cumulative counts per fixed
// reason; every known reason is present (at 0) so the counters exist before the first error.
type Status struct {
	Source      string // files, certbot_log, certbot_renewal, targets, ari
	Name        string // which instance (a glob, a log path, a target)
	Up          bool
	LastSuccess time.Time
	Errors      map[string]uint64
}

// NewErrors returns a counter map with every reason pre-created at 0.
func NewErrors(reasons ...string) map[string]uint64 {
	m := make(map[string]uint64, len(reasons))
	for _, r := range reasons {
		m[r] = 0
	}
	return m
}
