package inventory

import (
	"fmt"
	"math"
)

// TimeLeft says how long until expiry (expirySeconds, negative once expired): days to one
// decimal, rounded down so that 6.96 days does not read "7.0" under a 7-day threshold, and hours
// and minutes under a day, where "0.2 days" says little.
func TimeLeft(expirySeconds int64) string {
	s := expirySeconds
	switch {
	case s >= 86400:
		return fmt.Sprintf("%.1f days", math.Floor(float64(s)/8640)/10)
	case s > 0:
		return hoursMinutes(s)
	case s > -86400:
		return "expired " + hoursMinutes(-s) + " ago"
	}
	return fmt.Sprintf("expired %.1f days ago", math.Floor(float64(-s)/8640)/10)
}

// hoursMinutes writes s (under a day) as "5h 12m", "5h", "42m" or "<1m".
func hoursMinutes(s int64) string {
	h, m := s/3600, s%3600/60
	switch {
	case h > 0 && m > 0:
		return fmt.Sprintf("%dh %dm", h, m)
	case h > 0:
		return fmt.Sprintf("%dh", h)
	case m > 0:
		return fmt.Sprintf("%dm", m)
	}
	return "<1m"
}
