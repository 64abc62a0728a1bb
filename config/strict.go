package config

import (
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// checkKnownFields walks the YAML tree against the Go types so that an unknown key is reported
// with its full path ("files[1].pathz: field not found"), which yaml's KnownFields cannot do.
func checkKnownFields(root *yaml.Node, v any) error {
	n := root
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		n = n.Content[0]
	}
	return walk(n, reflect.TypeOf(v), "")
}

func walk(n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if l, ok := reflect.Zero(t).Interface().(interface{ listElem() reflect.Type }); ok {
		// One entry, named by the section, or a list of them, each named by its index.
		if n.Kind == yaml.MappingNode {
			return walk(n, l.listElem(), path)
		}
		if n.Kind == yaml.SequenceNode {
			for i, c := range n.Content {
				if err := walk(c, l.listElem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if implementsUnmarshaler(t) {
		// Custom types (durations, tls_config): decode here so that an error names the field;
		// a struct's own fields first, so that theirs name the field inside it.
		if t.Kind() == reflect.Struct {
			if err := walkFields(n, t, path); err != nil {
				return err
			}
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			return fmt.Errorf("%s: %w (line %d)", path, err, n.Line)
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		return walkFields(n, t, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return nil
		}
		for i, c := range n.Content {
			if err := walk(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return nil
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := walk(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value)); err != nil {
				return err
			}
		}
	}
	return nil
}

// walkFields checks the keys of a mapping against the struct t, and walks their values.
func walkFields(n *yaml.Node, t reflect.Type, path string) error {
	if n.Kind != yaml.MappingNode {
		return nil // type errors are yaml's job
	}
	fields := yamlFields(t)
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := n.Content[i].Value
		ft, ok := fields[key]
		p := join(path, key)
		if !ok {
			if to, moved := movedKeys[t][key]; moved {
				return fmt.Errorf("%s: field not found: it is now %s (line %d)", p, join(path, to), n.Content[i].Line)
			}
			return fmt.Errorf("%s: field not found (line %d)", p, n.Content[i].Line)
		}
		if err := walk(n.Content[i+1], ft, p); err != nil {
			return err
		}
	}
	return nil
}

// movedKeys are keys that moved elsewhere, by the type they were in.
var movedKeys = map[reflect.Type]map[string]string{
	reflect.TypeFor[Module](): movedModuleKeys,
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func implementsUnmarshaler(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	return pt.Implements(reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()) ||
		pt.Implements(reflect.TypeOf((*interface {
			UnmarshalYAML(func(any) error) error
		})(nil)).Elem())
}

func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			for k, v := range yamlFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}
