package certs

import (
	"encoding/json"
	"maps"
	"slices"
)

// Label is one owner label (team="web") of a chain, set by the config entry that found it.
type Label struct{ Name, Value string }

// Labels are a chain's owner labels, sorted by name; config validation bounds them and keeps
// their names apart from every label the exporter sets.
type Labels []Label

// NewLabels sorts a config entry's labels:.
func NewLabels(m map[string]string) Labels {
	if len(m) == 0 {
		return nil
	}
	l := make(Labels, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		l = append(l, Label{k, m[k]})
	}
	return l
}

// Get returns the value of the named label, "" when it is not set.
func (l Labels) Get(name string) string {
	for _, x := range l {
		if x.Name == name {
			return x.Value
		}
	}
	return ""
}

// MarshalJSON writes the labels as an object, as they are written in the config.
func (l Labels) MarshalJSON() ([]byte, error) {
	m := make(map[string]string, len(l))
	for _, x := range l {
		m[x.Name] = x.Value
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads what MarshalJSON writes (/certificates.json readers).
func (l *Labels) UnmarshalJSON(b []byte) error {
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*l = NewLabels(m)
	return nil
}
