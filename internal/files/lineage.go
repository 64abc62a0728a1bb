package files

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// certbot's four links per lineage, in the order update_all_links_to swaps them.
var lineageKinds = [4]string{"cert", "privkey", "chain", "fullchain"}

// duplicateSuffix is what certbot appends to a lineage name that is already taken.
var duplicateSuffix = regexp.MustCompile(`-\d{4}$`)

// lineageOf returns the certbot lineage of a path under <config_dir>/live/<lineage>/, else "".
func (s *Source) lineageOf(path string) string {
	if s.liveDir == "" {
		return ""
	}
	dir := filepath.Dir(path)
	if filepath.Dir(dir) != s.liveDir {
		return ""
	}
	return filepath.Base(dir)
}

// duplicate reports a lineage like "example.com-0001", made by re-running certonly while
// "example.com" exists.
func (s *Source) duplicate(lineage string) bool {
	loc := duplicateSuffix.FindStringIndex(lineage)
	if loc == nil {
		return false
	}
	fi, err := os.Stat(filepath.Join(s.liveDir, lineage[:loc[0]]))
	return err == nil && fi.IsDir()
}

// lineageState is what a lineage's live directory links to at one moment.
type lineageState struct {
	targets  [4]string // link targets of cert, privkey, chain, fullchain; "" when absent
	present  [4]bool   // the entry exists (link or regular file)
	previous bool      // a previous_*.pem link exists: update_all_links_to is running
	missing  bool      // the directory did not exist when first looked at
}

func readLineage(dir string) lineageState {
	var st lineageState
	if _, err := os.Lstat(dir); err != nil {
		return lineageState{missing: true}
	}
	for i, k := range lineageKinds {
		p := filepath.Join(dir, k+".pem")
		if t, err := os.Readlink(p); err == nil {
			st.targets[i], st.present[i] = t, true
		} else if _, err := os.Lstat(p); err == nil {
			st.present[i] = true
		}
		if _, err := os.Lstat(filepath.Join(dir, "previous_"+k+".pem")); err == nil {
			st.previous = true
		}
	}
	return st
}

func (a lineageState) equal(b lineageState) bool { return a == b }

// consistent: no swap in progress and every link points at the same archive version. A
// lineage that does not use certbot's kindN.pem links (copied files) is judged by serials only.
func (a lineageState) consistent() bool {
	if a.previous {
		return false
	}
	version, links := "", 0
	for i, k := range lineageKinds {
		if a.targets[i] == "" {
			continue
		}
		v, ok := archiveVersion(a.targets[i], k)
		if !ok {
			continue
		}
		links++
		if version != "" && v != version {
			return false
		}
		version = v
	}
	if links == 0 {
		return true
	}
	// One of the four links is missing for a moment during each swap (unlink, then symlink).
	for i := range a.present {
		if !a.present[i] {
			return false
		}
	}
	return true
}

func archiveVersion(target, kind string) (string, bool) {
	base := filepath.Base(target)
	if !strings.HasPrefix(base, kind) || !strings.HasSuffix(base, ".pem") {
		return "", false
	}
	v := base[len(kind) : len(base)-len(".pem")]
	if _, err := strconv.Atoi(v); err != nil {
		return "", false
	}
	return v, true
}

// serialsAgree: cert.pem's certificate is fullchain.pem's leaf. Deploy hooks that copy the
// files one by one produce the same half-state as certbot's link swaps.
func (s *Source) serialsAgree(dir string) bool {
	cert, _, fe1 := s.load(filepath.Join(dir, "cert.pem"), "", 1<<20, false)
	full, _, fe2 := s.load(filepath.Join(dir, "fullchain.pem"), "", 1<<20, false)
	if fe1 != nil || fe2 != nil || cert == nil || full == nil || len(cert.certs) == 0 || len(full.certs) == 0 {
		return true // nothing to compare; the files' own errors are reported
	}
	return cert.certs[0].Serial == full.certs[0].Serial
}
