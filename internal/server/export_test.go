package server

import "github.com/cert-expiry-exporter/cert_expiry_exporter/internal/inventory"

// Store is the exporter's inventory, for the lifecycle tests.
func (e *Exporter) Store() *inventory.Store { return e.store }

// StopGrace is how long a source may take to stop, for the tests that advance a fake clock.
const StopGrace = stopGrace
