//go:build !linux

package files

import (
	"io/fs"
	"path/filepath"
)

// keyOf identifies one version of one file by size and mtime where no inode is available.
func keyOf(path string, fi fs.FileInfo) fileKey {
	return fileKey{path: path, fileVersion: fileVersion{size: fi.Size(), mtime: fi.ModTime().UnixNano()}}
}

// dirKey identifies a directory whatever path leads to it.
func dirKey(dir string) (fileKey, bool) {
	real, err := filepath.EvalSymlinks(dir)
	return fileKey{path: real}, err == nil
}
