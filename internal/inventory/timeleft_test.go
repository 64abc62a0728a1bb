package inventory

import "testing"

func TestTimeLeft(t *testing.T) {
	for s, want := range map[int64]string{
		30 * 86400:          "30.0 days",
		7*86400 - 1:         "6.9 days", // rounded down: under the 7-day threshold it must not read 7.0
		86400:               "1.0 days",
		86400 - 1:           "23h 59m",
		5*3600 + 12*60 + 59: "5h 12m",
		3 * 3600:            "3h",
		42*60 + 5:           "42m",
		59:                  "<1m",
		0:                   "expired <1m ago",
		-3 * 3600:           "expired 3h ago",
		-(3*3600 + 60):      "expired 3h 1m ago",
		-86400:              "expired 1.0 days ago",
		-(36 * 3600):        "expired 1.5 days ago",
	} {
		if got := TimeLeft(s); got != want {
			t.Errorf("TimeLeft(%d) = %q, want %q", s, got, want)
		}
	}
}
