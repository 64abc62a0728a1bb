package files

import (
	"io/fs"
	"syscall"
)

// keyOf identifies one version of one file: the inode, and what a rewrite or replacement changes.
func keyOf(path string, fi fs.FileInfo) fileKey {
	k := fileKey{path: path, fileVersion: fileVersion{size: fi.Size(), mtime: fi.ModTime().UnixNano()}}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		k.dev, k.ino = st.Dev, st.Ino
		k.ctime = st.Ctim.Nano()
	}
	return k
}

// dirKey identifies a directory whatever path leads to it.
func dirKey(dir string) (fileKey, bool) {
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return fileKey{}, false
	}
	return fileKey{fileVersion: fileVersion{dev: st.Dev, ino: st.Ino}}, true
}
