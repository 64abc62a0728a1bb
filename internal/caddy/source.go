// Package caddy is the `caddy:` source: the certificates in Caddy's storage, as certificate
// series with source="caddy", and the renewal state of every name its JSON log tells of.
package caddy

import (
	"context"
	"log/slog"
	"maps"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/jonboulle/clockwork"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/config"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/acmestate"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/acmestore"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/files"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/logtail"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/source"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/logparse"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/probe"
)

// client names Caddy in the renewal series, the chains' Location.Source and the log lines.
const client = certs.SourceCaddy

// logPoll is the fallback when fsnotify says nothing about the log (NFS, missed events).
const logPoll = time.Second

// LogErrorReasons are the fixed reasons of the caddy_log error counters, pre-created at 0:
// the log cannot be read (not_found, permission, io), a line is longer than
// logparse.MaxLogLine (line_too_long), a line is no JSON log entry (parse: the log's format
// is not json), a name or challenge problem past a bound was dropped (limit_exceeded). The
// caddy_store counters are the files source's reasons.
var LogErrorReasons = []string{"not_found", "permission", "io", "line_too_long", "parse", "limit_exceeded"}

// instance follows one Caddy instance. run owns all state; it sends immutable parts, so a
// scrape never waits on the storage or the log.
type instance struct {
	cfg   config.Caddy
	log   *slog.Logger
	clock clockwork.Clock

	store *acmestore.Store // certificates/<issuer>/<name>/<name>.crt through the files source
	last  *source.Snapshot // its latest snapshot
	meta  *acmestore.Meta[logparse.CaddyMeta]

	fold   logparse.CaddyFolder
	tail   *logtail.Tail // nil without log_file
	health logtail.Health
	warned map[string]bool // kinds of skipped lines already logged
}

func newInstance(cfg config.Caddy, logger *slog.Logger, clock clockwork.Clock) *instance {
	s := &instance{cfg: cfg, log: logger, clock: clock, warned: map[string]bool{},
		meta: acmestore.NewMeta(logparse.MaxCaddyMeta, logparse.ParseCaddyMeta),
		health: logtail.Health{Status: source.Status{Source: "caddy_log", Name: cfg.LogFile,
			Errors: source.NewErrors(LogErrorReasons...)}}}
	s.store = acmestore.New(client, []acmestore.Entry{{Name: cfg.StorageDir, Files: cfg.Files()}},
		func(path string) (string, bool) {
			f := s.storageFile(path)
			return f.Name, f.Name != ""
		}, logger, clock)
	if cfg.LogFile != "" {
		// One byte over the parser's bound, so that a cut line is one it counts as huge.
		s.tail = logtail.New(cfg.LogFile, logparse.MaxLogLine+1, s.fold.Line)
	}
	return s
}

// storageFile classifies a path of the storage (zero: not a file of Caddy's layout).
func (s *instance) storageFile(path string) logparse.StorageFile {
	rel, err := filepath.Rel(s.cfg.StorageDir, path)
	if err != nil {
		return logparse.StorageFile{}
	}
	f, _ := logparse.CaddyStorageFile(filepath.ToSlash(rel))
	return f
}

// once reads the storage and replays the log history: the state `check` reports.
func (s *instance) once(ctx context.Context) part {
	if s.tail != nil {
		defer s.tail.Close()
		s.replay()
	}
	s.last = s.store.Once(ctx)
	return s.current()
}

// run replays the log history, then follows the log and the storage until ctx ends.
func (s *instance) run(ctx context.Context, publish func(part)) {
	var watch *fsnotify.Watcher
	if s.tail != nil {
		defer s.tail.Close()
		s.replay()
		if watch = acmestore.WatchDir(filepath.Dir(s.cfg.LogFile), s.log); watch != nil {
			defer watch.Close()
		}
	}
	s.store.Follow(ctx, s.clock, logPoll, watch,
		func(snap *source.Snapshot) { s.last = snap },
		s.pollLog,
		func() { publish(s.current()) })
}

// replay reads the rolled and rotated logs (oldest first, within history_max_age), then the
// current log, which the tail keeps following.
func (s *instance) replay() {
	err := s.tail.Replay(s.clock.Now().Add(-time.Duration(s.cfg.HistoryMaxAge)), func(path string, err error) {
		if err != nil {
			s.log.Warn("reading rotated caddy log", "path", path, "err", err)
			s.health.Errors["io"]++
		}
	})
	s.health.Set(err, s.clock.Now(), s.log, client)
}

// pollLog reads what is new in the log; it reports whether anything changed.
func (s *instance) pollLog() bool {
	if s.tail == nil {
		return false
	}
	before, up := s.tail.Bytes(), s.health.Up
	s.health.Set(s.tail.Poll(), s.clock.Now(), s.log, client)
	return s.tail.Bytes() != before || up != s.health.Up
}

// logStatus is the log's health with what the folder skipped, each kind logged once.
func (s *instance) logStatus() source.Status {
	st := s.health.Status
	st.Errors = maps.Clone(st.Errors)
	for _, c := range []struct {
		n      uint64
		reason string
		msg    string
	}{
		{s.fold.Garbage, "parse", "caddy log lines that are no JSON log entries are skipped (is the log's format json?)"},
		{s.fold.Huge, "line_too_long", "caddy log lines longer than the bound are skipped"},
		{s.fold.Dropped, "limit_exceeded", "caddy log names more certificates or problems than the bounds; the excess is ignored"},
	} {
		st.Errors[c.reason] += c.n
		if c.n > 0 && !s.warned[c.reason] {
			s.warned[c.reason] = true
			s.log.Warn(c.msg, "path", s.cfg.LogFile, "lines", c.n, "max_line_bytes", logparse.MaxLogLine,
				"max_names", logparse.MaxOutcomes, "max_problems", logparse.MaxProblems)
		}
	}
	return st
}

// part is what one instance contributes to the source's snapshot.
type part struct {
	chains   []certs.Chain
	windows  []source.Window // the CA's renewal windows (ARI) Caddy stored
	problems []source.Problem
	status   []source.Status
	names    []acmestate.Name
	fileErrs []files.FileError
	targets  []probe.Target // with probe: one per stored name, in name order
}

// current renders the storage's latest scan and the log's state.
func (s *instance) current() part {
	var out part
	// stored: the newest chain of each name (it may have a certificate from several issuers),
	// and the directory it renews against: the CA the metadata names, else the issuer
	// directory's.
	type storedName struct {
		domain, server string
		changed        time.Time
		serverName     string // what a probe of it asks for: probeName
	}
	stored := map[string]storedName{}
	if s.last != nil {
		for _, p := range s.last.Problems {
			out.fileErrs = append(out.fileErrs, files.FileError{Path: p.Where, Reason: p.Reason, Message: p.Message})
		}
		out.problems = slices.Clone(s.last.Problems)
		for _, c := range s.last.Chains {
			sf := s.storageFile(c.Path)
			if sf.Kind != logparse.StorageCert {
				continue // certificates/x/y/z.crt where z is not y: not Caddy's
			}
			out.chains = append(out.chains, c)
			m, fe := s.meta.Read(strings.TrimSuffix(c.Path, ".crt") + ".json")
			if fe != nil {
				out.fileErrs = append(out.fileErrs, *fe)
				out.problems = append(out.problems, source.Problem{Source: client, Where: fe.Path, Reason: fe.Reason, Message: fe.Message})
			}
			server := m.CA
			if server == "" {
				server = logparse.CaddyIssuerDirectory(sf.Issuer)
			}
			// Caddy ≥ 2.8 asks the CA for the renewal window (ARI, RFC 9773) and stores its
			// answer in the metadata: published as the ari source's would be, so the renewal
			// point is the CA's, without asking it again.
			// A window that does not end after it starts is refused, as the ari source does.
			if !m.WindowStart.IsZero() && m.WindowEnd.After(m.WindowStart) && len(c.Certs) > 0 {
				leaf := c.Certs[0]
				out.windows = append(out.windows, source.Window{Cert: leaf.Key(), Lineage: sf.Name, Domain: leaf.Domain,
					Serial: leaf.Serial, Directory: server, Start: m.WindowStart, End: m.WindowEnd})
			}
			if old, ok := stored[sf.Name]; !ok || c.Changed.After(old.changed) {
				domain := ""
				if len(m.SANs) > 0 {
					domain = m.SANs[0]
				} else if len(c.Certs) > 0 {
					domain = c.Certs[0].Domain
				}
				stored[sf.Name] = storedName{domain: domain, server: server, changed: c.Changed, serverName: probeName(sf.Name, c)}
			}
		}
		s.meta.Settle(s.log, client)
		for _, st := range s.last.Status {
			st.Errors = maps.Clone(st.Errors)
			for r, n := range s.meta.Errors {
				st.Errors[r] += n
			}
			out.status = append(out.status, st)
		}
	}

	logged := map[string]bool{}
	for _, o := range s.fold.Outcomes() {
		lineage := logparse.CaddyStorageKey(o.Name)
		logged[lineage] = true
		server := stored[lineage].server
		if server == "" {
			server = logparse.CaddyIssuerDirectory(o.Issuer)
		}
		out.names = append(out.names, acmestate.Fold(client, lineage, server, o))
	}
	for _, lineage := range slices.Sorted(maps.Keys(stored)) {
		if !logged[lineage] {
			st := stored[lineage]
			out.names = append(out.names, acmestate.Stored(client, lineage, st.domain, st.server))
		}
	}
	if s.tail != nil {
		out.status = append(out.status, s.logStatus())
	}
	if addr := s.cfg.ProbeAddress(); addr != "" {
		host, port, _ := net.SplitHostPort(addr)
		for _, lineage := range slices.Sorted(maps.Keys(stored)) {
			if sn := stored[lineage].serverName; sn != "" {
				p := s.cfg.Probe
				// ServerName too: a module's tls_config.server_name must not send every name's
				// handshake to one site.
				out.targets = append(out.targets, probe.Target{Addresses: []string{host}, Target: config.Target{
					Target: net.JoinHostPort(sn, port), ServerName: sn, Module: p.Module, Interval: p.Interval, Labels: s.cfg.Labels}})
			}
		}
	}
	return out
}

// wildcardLabel stands for the `*` of a wildcard name in the name a probe asks for: Caddy
// serves a wildcard certificate for any name it covers, and this one is no site of its own.
const wildcardLabel = "cert-expiry-exporter"

// probeName is the server name (SNI) a probe of the stored name asks Caddy for: the leaf's DNS
// name that the storage directory was made from (the directory is certmagic's lossy Safe key
// of it), its `*` replaced by wildcardLabel; "" when there is none (an IP address certificate,
// whose IP a handshake cannot name).
func probeName(lineage string, c certs.Chain) string {
	if len(c.Certs) == 0 {
		return ""
	}
	for _, n := range c.Certs[0].Names() {
		// An IP address certificate has no DNS name, and Names gives its CN: a target of an IP
		// would be dialled at that IP, not at Caddy.
		if logparse.CaddyStorageKey(n) != lineage || net.ParseIP(n) != nil {
			continue
		}
		if rest, ok := strings.CutPrefix(n, "*."); ok {
			return wildcardLabel + "." + rest
		}
		return n
	}
	return ""
}
