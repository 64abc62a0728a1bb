package config

import (
	"path/filepath"
	"strings"
)

// MatchGlob reports whether path matches pattern, the glob syntax of every `paths:` list:
// filepath.Match per path segment, and "**" for any number of segments.
func MatchGlob(pattern, path string) bool {
	return matchSegs(strings.Split(filepath.Clean(pattern), string(filepath.Separator)),
		strings.Split(filepath.Clean(path), string(filepath.Separator)))
}

func matchSegs(pat, segs []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(segs); i++ {
				if matchSegs(pat[1:], segs[i:]) {
					return true
				}
			}
			return false
		}
		if len(segs) == 0 {
			return false
		}
		if ok, _ := filepath.Match(pat[0], segs[0]); !ok {
			return false
		}
		pat, segs = pat[1:], segs[1:]
	}
	return len(segs) == 0
}
