package ari

// TEMPORARY until files/ exports MatchPath (see /work/shared_notes/ari-to-files.md).

import (
	"path/filepath"
	"strings"
)

func matchPathTmp(pattern, path string) bool {
	return matchSegsTmp(strings.Split(filepath.Clean(pattern), string(filepath.Separator)),
		strings.Split(filepath.Clean(path), string(filepath.Separator)))
}

func matchSegsTmp(pat, segs []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(segs); i++ {
				if matchSegsTmp(pat[1:], segs[i:]) {
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
