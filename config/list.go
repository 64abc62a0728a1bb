package config

import (
	"fmt"
	"reflect"

	"go.yaml.in/yaml/v3"
)

// List is a section that takes one entry (a mapping) or a list of them, as `lego:` and
// `caddy:`: one client installation is the common case, several are a list.
type List[T any] []T

// UnmarshalYAML accepts a mapping (one entry) or a sequence.
func (l *List[T]) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		var v T
		if err := n.Decode(&v); err != nil {
			return err
		}
		*l = List[T]{v}
		return nil
	}
	var s []T
	if err := n.Decode(&s); err != nil {
		return err
	}
	*l = s
	return nil
}

// listElem lets the strict walker check a List's entries against T.
func (List[T]) listElem() reflect.Type { return reflect.TypeFor[T]() }

// listPath names entry i of the n entries of a List section: "lego" for the only one (as it is
// usually written), "lego[1]" in a list.
func listPath(section string, i, n int) string {
	if n == 1 {
		return section
	}
	return fmt.Sprintf("%s[%d]", section, i)
}

// nullSection says whether the document sets the key at path (a top-level key, or one nested
// in mappings) to null (a bare `certbot:`): YAML decodes that to a zero value, which would
// disable the section although the key asks for it with its defaults.
func nullSection(root *yaml.Node, path ...string) bool {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for depth, key := range path {
		if n.Kind != yaml.MappingNode {
			return false
		}
		var v *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				v = n.Content[i+1]
			}
		}
		if v == nil {
			return false
		}
		if v.Kind == yaml.AliasNode {
			v = v.Alias
		}
		if depth == len(path)-1 {
			return v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null"
		}
		n = v
	}
	return false
}
