// Package logparse turns certbot's log (letsencrypt.log) into records, runs and per-lineage
// renewal outcomes. It is pure: no I/O, no clock; callers feed lines and read results.
package logparse

import (
	"bytes"
	"time"
)

// Record is one log record: a timestamped line plus its continuation lines (tracebacks,
// multi-line messages), joined by "\n" into Message.
type Record struct {
	Time    time.Time
	Level   string // DEBUG, INFO, WARNING, ERROR, CRITICAL
	Logger  string // e.g. certbot._internal.renewal
	Message string
}

// Certbot's file handler format is "%(asctime)s:%(levelname)s:%(name)s:%(message)s" with
// asctime "2006-01-02 15:04:05,000" in local time: 23 bytes, then ':'.
const stampLen = len("2006-01-02 15:04:05,000")

// parse parses a line that starts a record: the record without its message, and the
// message's bytes. It returns false for anything else, which callers treat as a
// continuation of the previous record. Timestamps carry no zone; a.loc says which zone
// certbot wrote them in. It copies nothing but a logger's name the first time it is seen (a
// log has a few dozen).
func (a *Assembler) parse(line []byte) (Record, []byte, bool) {
	if len(line) < stampLen+3 || line[stampLen] != ':' {
		return Record{}, nil, false
	}
	t, ok := parseStamp(line[:stampLen], a.loc)
	if !ok {
		return Record{}, nil, false
	}
	rest := line[stampLen+1:]
	i := bytes.IndexByte(rest, ':')
	if i < 0 {
		return Record{}, nil, false
	}
	level := levelName(rest[:i])
	if level == "" {
		return Record{}, nil, false
	}
	rest = rest[i+1:]
	j := bytes.IndexByte(rest, ':')
	if j <= 0 || bytes.IndexByte(rest[:j], ' ') >= 0 {
		return Record{}, nil, false
	}
	return Record{Time: t, Level: level, Logger: a.intern(rest[:j])}, rest[j+1:], true
}

// maxLoggers bounds the intern table: a hostile log naming a new logger on every line costs
// one allocation per record past it, as without the table, and no memory.
const maxLoggers = 256

func (a *Assembler) intern(b []byte) string {
	if s, ok := a.loggers[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(a.loggers) < maxLoggers {
		if a.loggers == nil {
			a.loggers = make(map[string]string)
		}
		a.loggers[s] = s
	}
	return s
}

// levelName returns the Python level b names, as a constant (no copy), or "".
func levelName(b []byte) string {
	switch string(b) {
	case "DEBUG":
		return "DEBUG"
	case "INFO":
		return "INFO"
	case "WARNING":
		return "WARNING"
	case "ERROR":
		return "ERROR"
	case "CRITICAL":
		return "CRITICAL"
	}
	return ""
}

// parseStamp reads "2006-01-02 15:04:05,000" by hand: time.Parse is the hot spot of a replay.
func parseStamp(s []byte, loc *time.Location) (time.Time, bool) {
	if s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':' || s[19] != ',' {
		return time.Time{}, false
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hour, ok4 := digits(s[11:13])
	minute, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	ms, ok7 := digits(s[20:23])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || !ok7 ||
		month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 60 {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, ms*1e6, loc), true
}

func digits(s []byte) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// Assembler joins lines into records: a line that does not parse continues the previous
// record. Lines before the first record are orphans (counted, then dropped).
type Assembler struct {
	loc      *time.Location
	maxBytes int
	pending  Record
	has      bool
	buf      bytes.Buffer
	cut      bool // the pending record's message was cut at maxBytes
	loggers  map[string]string
	// Orphans counts continuation lines that had no record to attach to.
	Orphans uint64
	// Cut counts records whose message was cut at maxBytes.
	Cut uint64
}

// NewAssembler bounds each record's message to maxBytes (longer messages are cut).
func NewAssembler(loc *time.Location, maxBytes int) *Assembler {
	return &Assembler{loc: loc, maxBytes: maxBytes}
}

// Line feeds one line (without its newline). It returns the previous record when this line
// starts a new one. A record's message is gathered in one reused buffer and copied out once,
// when the record is complete; for the loggers the folder ignores (ACME and HTTP dumps, half
// of a log's records and most of its bytes) it is not kept at all.
func (a *Assembler) Line(line []byte) (Record, bool) {
	if len(line) >= stampLen+3 && line[stampLen] == ':' && line[4] == '-' {
		if r, msg, ok := a.parse(line); ok {
			prev, had := a.Flush()
			a.pending, a.has = r, true
			if !ignoredLogger(r.Logger) {
				a.buf.Write(msg)
			}
			return prev, had
		}
	}
	switch {
	case !a.has:
		a.Orphans++
	case ignoredLogger(a.pending.Logger):
	default:
		room := a.maxBytes - a.buf.Len() - 1
		if room > 0 {
			a.buf.WriteByte('\n')
			a.buf.Write(line[:min(len(line), room)])
		}
		if len(line) > room && !a.cut {
			a.cut = true
			a.Cut++
		}
	}
	return Record{}, false
}

// Flush returns the record being assembled, if any: at the end of a file, or when the log
// has been quiet long enough that no continuation can follow.
func (a *Assembler) Flush() (Record, bool) {
	if !a.has {
		return Record{}, false
	}
	r := a.pending
	r.Message = a.buf.String()
	a.buf.Reset()
	a.pending, a.has, a.cut = Record{}, false, false
	return r, true
}
