package files

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// match is one path a glob produced, as spelled by the glob (a symlink stays a symlink).
type match struct {
	path    string
	symlink bool
}

// expander walks globs and remembers which directories it read (to watch them) and which it
// could not read (to report them).
type expander struct {
	// dirs maps each directory read to the first entry whose globs read it: the entry a failed
	// watch of the directory is counted against.
	dirs    map[string]int
	entry   int // the entry whose globs are being expanded
	errs    []FileError
	visited map[fileKey]struct{} // real directories entered through "**", against symlink loops
	listed  map[string][]fs.DirEntry
}

func newExpander() *expander {
	return &expander{dirs: map[string]int{}, listed: map[string][]fs.DirEntry{}}
}

func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// expand returns the files matching pattern, which may use filepath.Match syntax per path
// segment plus "**" for any number of directories.
func (x *expander) expand(pattern string) []match {
	pattern = filepath.Clean(pattern)
	segs := strings.Split(pattern, string(filepath.Separator))
	base := ""
	i := 0
	for ; i < len(segs) && !hasMeta(segs[i]); i++ {
		if i == 0 && segs[0] == "" {
			base = string(filepath.Separator)
			continue
		}
		base = filepath.Join(base, segs[i])
	}
	if base == "" {
		base = "."
	}
	if i == len(segs) { // a literal path
		x.watchExisting(filepath.Dir(pattern))
		fi, err := os.Lstat(pattern)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				x.errs = append(x.errs, fileError(pattern, err))
			}
			return nil
		}
		return []match{{path: pattern, symlink: fi.Mode()&fs.ModeSymlink != 0}}
	}
	x.visited = map[fileKey]struct{}{}
	if fi, err := os.Stat(base); err != nil || !fi.IsDir() {
		// Watch the nearest existing ancestor so that the directory's return is noticed.
		x.watchExisting(base)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			x.errs = append(x.errs, fileError(base, err))
		}
		return nil
	}
	var out []match
	x.walk(base, segs[i:], &out)
	return out
}

func (x *expander) addDir(dir string) {
	if _, ok := x.dirs[dir]; !ok {
		x.dirs[dir] = x.entry
	}
}

func (x *expander) watchExisting(dir string) {
	for {
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			x.addDir(dir)
			return
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return
		}
		dir = parent
	}
}

// readDir lists dir once per scan ("**" visits each directory twice).
func (x *expander) readDir(dir string) []fs.DirEntry {
	if ents, ok := x.listed[dir]; ok {
		return ents
	}
	x.addDir(dir)
	ents, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		x.errs = append(x.errs, fileError(dir, err))
	}
	x.listed[dir] = ents
	return ents
}

// isDir reports whether a directory entry is a directory, following symlinks.
func isDir(dir string, e fs.DirEntry) bool {
	if e.IsDir() {
		return true
	}
	if e.Type()&fs.ModeSymlink == 0 {
		return false
	}
	fi, err := os.Stat(filepath.Join(dir, e.Name()))
	return err == nil && fi.IsDir()
}

func (x *expander) walk(dir string, segs []string, out *[]match) {
	seg := segs[0]
	last := len(segs) == 1
	if seg == "**" {
		if key, ok := dirKey(dir); ok {
			if _, seen := x.visited[key]; seen {
				return
			}
			x.visited[key] = struct{}{}
		}
		if last { // "dir/**" means every file below dir
			segs = []string{"**", "*"}
		}
		x.walk(dir, segs[1:], out) // zero directories
		for _, e := range x.readDir(dir) {
			if isDir(dir, e) {
				x.walk(filepath.Join(dir, e.Name()), segs, out)
			}
		}
		return
	}
	if !hasMeta(seg) {
		p := filepath.Join(dir, seg)
		if last {
			x.addDir(dir)
			if fi, err := os.Lstat(p); err == nil {
				*out = append(*out, match{path: p, symlink: fi.Mode()&fs.ModeSymlink != 0})
			}
			return
		}
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			x.walk(p, segs[1:], out)
		}
		return
	}
	for _, e := range x.readDir(dir) {
		if ok, _ := filepath.Match(seg, e.Name()); !ok {
			continue
		}
		p := filepath.Join(dir, e.Name())
		switch {
		case last && !e.IsDir():
			*out = append(*out, match{path: p, symlink: e.Type()&fs.ModeSymlink != 0})
		case !last && isDir(dir, e):
			x.walk(p, segs[1:], out)
		}
	}
}
