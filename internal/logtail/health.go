package logtail

import (
	"errors"
	"io/fs"
	"log/slog"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
)

// Reason classifies a read error into the fixed reasons of the health counters: not_found,
// permission, io ("" for nil).
func Reason(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, fs.ErrNotExist):
		return "not_found"
	case errors.Is(err, fs.ErrPermission):
		return "permission"
	default:
		return "io"
	}
}

// Health is a followed log's health: its error counted and logged once per change of reason.
type Health struct {
	source.Status
	reason string
}

// Set records the outcome of reading the log (client names it in the log lines) at now.
func (h *Health) Set(err error, now time.Time, logger *slog.Logger, client string) {
	reason := Reason(err)
	if reason != h.reason {
		if reason != "" {
			h.Errors[reason]++
			logger.Warn(client+" log unreadable", "path", h.Name, "reason", reason, "err", err)
		} else if h.reason != "" {
			logger.Info(client+" log readable again", "path", h.Name)
		}
		h.reason = reason
	}
	h.Up, h.Error = reason == "", ""
	if h.Up {
		h.LastSuccess = now
	} else {
		h.Error = err.Error()
	}
}
