package probe

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Bounds on what a STARTTLS peer may send before TLS starts, so a hostile server can neither
// bloat memory nor keep the dialog going forever (the deadline bounds the time).
const (
	maxLine     = 4096 // one text line; also the dialog reader's buffer size
	maxLines    = 256  // lines of one multi-line reply or of untagged IMAP data
	maxPacket   = 1 << 16
	maxXMLToken = 1024
)

// dialog is the plain-text phase before the TLS handshake. r must not read beyond what the
// dialog consumes: the connection continues with r's buffered bytes (see bufConn).
type dialog struct {
	r *bufio.Reader
	w io.Writer
}

func newDialog(r io.Reader, w io.Writer) *dialog {
	return &dialog{r: bufio.NewReaderSize(r, maxLine), w: w}
}

// startTLS runs the named protocol's upgrade sequence; name is the server name for protocols
// that carry one (XMPP's stream "to").
func startTLS(d *dialog, proto, name string) error {
	f, ok := dialogs[proto]
	if !ok {
		return fmt.Errorf("unknown STARTTLS protocol %q", proto)
	}
	return f(d, name)
}

var dialogs = map[string]func(d *dialog, name string) error{
	"smtp":     smtpDialog,
	"imap":     imapDialog,
	"pop3":     pop3Dialog,
	"ftp":      ftpDialog,
	"ldap":     ldapDialog,
	"postgres": postgresDialog,
	"mysql":    mysqlDialog,
	"xmpp":     xmppDialog,
}

func (d *dialog) send(s string) error {
	_, err := io.WriteString(d.w, s)
	return err
}

// line reads one CRLF- or LF-terminated line without its terminator.
func (d *dialog) line() (string, error) {
	b, err := d.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return "", fmt.Errorf("line longer than %d bytes", maxLine)
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// reply reads an SMTP/FTP reply (RFC 5321 §4.2, RFC 959 §4.2): "ddd-text" lines continue it,
// "ddd text" or "ddd" ends it (FTP allows free text lines in between). It fails unless the
// code is want, and returns the text of every line.
func (d *dialog) reply(want string) ([]string, error) {
	var texts []string
	first, err := d.line()
	if err != nil {
		return nil, err
	}
	if len(first) < 3 || !isDigits(first[:3]) {
		return nil, fmt.Errorf("not a reply: %q", clip(first))
	}
	code := first[:3]
	cur := first
	for i := 0; ; i++ {
		if strings.HasPrefix(cur, code) {
			texts = append(texts, strings.TrimLeft(cur[3:], " -"))
			if len(cur) == 3 || cur[3] == ' ' {
				break
			}
		}
		if i >= maxLines {
			return nil, fmt.Errorf("reply longer than %d lines", maxLines)
		}
		if cur, err = d.line(); err != nil {
			return nil, err
		}
	}
	if code != want {
		return nil, fmt.Errorf("want %s, got %q", want, clip(first))
	}
	return texts, nil
}

func isDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// clip bounds server text quoted in an error message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// smtpDialog is RFC 3207: greeting 220, EHLO, STARTTLS advertised, STARTTLS → 220.
func smtpDialog(d *dialog, _ string) error {
	if _, err := d.reply("220"); err != nil {
		return fmt.Errorf("SMTP greeting: %w", err)
	}
	if err := d.send("EHLO localhost\r\n"); err != nil {
		return err
	}
	ext, err := d.reply("250")
	if err != nil {
		return fmt.Errorf("SMTP EHLO: %w", err)
	}
	offered := false
	for _, e := range ext[1:] { // the first line is the server's name
		if f := strings.Fields(e); len(f) > 0 && strings.EqualFold(f[0], "STARTTLS") {
			offered = true
		}
	}
	if !offered {
		return errors.New("SMTP server does not offer STARTTLS")
	}
	if err := d.send("STARTTLS\r\n"); err != nil {
		return err
	}
	if _, err := d.reply("220"); err != nil {
		return fmt.Errorf("SMTP STARTTLS: %w", err)
	}
	return nil
}

// ftpDialog is RFC 4217: greeting 220, AUTH TLS → 234.
func ftpDialog(d *dialog, _ string) error {
	if _, err := d.reply("220"); err != nil {
		return fmt.Errorf("FTP greeting: %w", err)
	}
	if err := d.send("AUTH TLS\r\n"); err != nil {
		return err
	}
	if _, err := d.reply("234"); err != nil {
		return fmt.Errorf("FTP AUTH TLS: %w", err)
	}
	return nil
}

// imapDialog is RFC 3501 §6.2.1 / RFC 9051: greeting "* OK", then the tagged STARTTLS command
// answered by "a001 OK" after any untagged data.
func imapDialog(d *dialog, _ string) error {
	g, err := d.line()
	if err != nil {
		return fmt.Errorf("IMAP greeting: %w", err)
	}
	if !strings.HasPrefix(strings.ToUpper(g), "* OK") {
		return fmt.Errorf("IMAP greeting: %q", clip(g))
	}
	if err := d.send("a001 STARTTLS\r\n"); err != nil {
		return err
	}
	for range maxLines {
		l, err := d.line()
		if err != nil {
			return fmt.Errorf("IMAP STARTTLS: %w", err)
		}
		if strings.HasPrefix(l, "* ") {
			continue
		}
		if !strings.HasPrefix(strings.ToUpper(l), "A001 OK") {
			return fmt.Errorf("IMAP STARTTLS: %q", clip(l))
		}
		return nil
	}
	return fmt.Errorf("IMAP STARTTLS: more than %d untagged lines", maxLines)
}

// pop3Dialog is RFC 2595 §4: greeting +OK, STLS → +OK.
func pop3Dialog(d *dialog, _ string) error {
	for _, step := range []string{"", "STLS\r\n"} {
		if step != "" {
			if err := d.send(step); err != nil {
				return err
			}
		}
		l, err := d.line()
		if err != nil {
			return fmt.Errorf("POP3: %w", err)
		}
		if !strings.HasPrefix(l, "+OK") {
			return fmt.Errorf("POP3: %q", clip(l))
		}
	}
	return nil
}

// ldapStartTLS is the RFC 4511 §4.14 ExtendedRequest {messageID 1, requestName
// 1.3.6.1.4.1.1466.20037}, BER encoded.
var ldapStartTLS = append([]byte{0x30, 0x1d, 0x02, 0x01, 0x01, 0x77, 0x18, 0x80, 0x16}, "1.3.6.1.4.1.1466.20037"...)

func ldapDialog(d *dialog, _ string) error {
	if _, err := d.w.Write(ldapStartTLS); err != nil {
		return err
	}
	tag, msg, err := readTLV(d.r)
	if err != nil {
		return fmt.Errorf("LDAP response: %w", err)
	}
	return parseLDAPExtendedResponse(tag, msg)
}

// parseLDAPExtendedResponse checks an LDAPMessage is a successful ExtendedResponse to message 1.
func parseLDAPExtendedResponse(tag byte, msg []byte) error {
	if tag != 0x30 {
		return fmt.Errorf("LDAP response: not a SEQUENCE (tag %#x)", tag)
	}
	tag, id, rest, err := parseTLV(msg)
	if err != nil || tag != 0x02 || len(id) == 0 {
		return errors.New("LDAP response: bad messageID")
	}
	tag, op, _, err := parseTLV(rest)
	if err != nil || tag != 0x78 { // [APPLICATION 24] ExtendedResponse
		return fmt.Errorf("LDAP response: not an ExtendedResponse (tag %#x)", tag)
	}
	tag, code, rest, err := parseTLV(op)
	if err != nil || tag != 0x0a || len(code) == 0 || len(code) > 4 {
		return errors.New("LDAP response: bad resultCode")
	}
	var rc int
	for _, b := range code {
		rc = rc<<8 | int(b)
	}
	diag := ""
	if _, _, rest, err = parseTLV(rest); err == nil { // matchedDN
		if tag, v, _, err := parseTLV(rest); err == nil && tag == 0x04 {
			diag = clip(string(v))
		}
	}
	switch {
	case !bytes.Equal(id, []byte{1}):
		// Message 0 is an unsolicited notification, e.g. Notice of Disconnection.
		return fmt.Errorf("LDAP: unsolicited notification, resultCode %d %q", rc, diag)
	case rc != 0:
		return fmt.Errorf("LDAP StartTLS refused: resultCode %d %q", rc, diag)
	}
	return nil
}

// readTLV reads one BER element with a single-byte tag and a definite length ≤ maxPacket.
func readTLV(r *bufio.Reader) (byte, []byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := int(hdr[1])
	if n >= 0x80 {
		k := n & 0x7f
		if k == 0 || k > 3 {
			return 0, nil, fmt.Errorf("unsupported BER length form %#x", hdr[1])
		}
		var lb [3]byte
		if _, err := io.ReadFull(r, lb[:k]); err != nil {
			return 0, nil, err
		}
		n = 0
		for _, b := range lb[:k] {
			n = n<<8 | int(b)
		}
	}
	if n > maxPacket {
		return 0, nil, fmt.Errorf("BER element of %d bytes is too large", n)
	}
	v := make([]byte, n)
	if _, err := io.ReadFull(r, v); err != nil {
		return 0, nil, err
	}
	return hdr[0], v, nil
}

// parseTLV splits one BER element off b.
func parseTLV(b []byte) (tag byte, v, rest []byte, err error) {
	if len(b) < 2 {
		return 0, nil, nil, io.ErrUnexpectedEOF
	}
	tag, n, b := b[0], int(b[1]), b[2:]
	if n >= 0x80 {
		k := n & 0x7f
		if k == 0 || k > 3 || len(b) < k {
			return 0, nil, nil, errors.New("bad BER length")
		}
		n = 0
		for _, x := range b[:k] {
			n = n<<8 | int(x)
		}
		b = b[k:]
	}
	if n > len(b) {
		return 0, nil, nil, io.ErrUnexpectedEOF
	}
	return tag, b[:n], b[n:], nil
}

// postgresDialog sends the SSLRequest message (length 8, code 80877103); the server answers
// one byte, 'S' to go on with TLS.
func postgresDialog(d *dialog, _ string) error {
	if _, err := d.w.Write([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}); err != nil {
		return err
	}
	b, err := d.r.ReadByte()
	if err != nil {
		return fmt.Errorf("PostgreSQL SSLRequest: %w", err)
	}
	switch b {
	case 'S':
		return nil
	case 'N':
		return errors.New("PostgreSQL server does not accept SSL")
	default:
		return fmt.Errorf("PostgreSQL SSLRequest: unexpected answer %q", b)
	}
}

// MySQL capability flags used in the SSL handshake.
const (
	mysqlLongPassword     = 0x00000001
	mysqlProtocol41       = 0x00000200
	mysqlSSL              = 0x00000800
	mysqlSecureConnection = 0x00008000
)

// mysqlDialog reads the server greeting (Protocol::HandshakeV10), checks CLIENT_SSL and sends
// the SSLRequest packet (Protocol::SSLRequest), after which the client starts TLS.
func mysqlDialog(d *dialog, _ string) error {
	seq, payload, err := readMySQLPacket(d.r)
	if err != nil {
		return fmt.Errorf("MySQL greeting: %w", err)
	}
	if err := parseMySQLGreeting(payload); err != nil {
		return err
	}
	pkt := make([]byte, 4+32)
	pkt[0], pkt[3] = 32, seq+1
	binary.LittleEndian.PutUint32(pkt[4:], mysqlLongPassword|mysqlProtocol41|mysqlSSL|mysqlSecureConnection)
	binary.LittleEndian.PutUint32(pkt[8:], 1<<24) // max packet size
	pkt[12] = 45                                  // utf8mb4_general_ci
	_, err = d.w.Write(pkt)
	return err
}

func readMySQLPacket(r *bufio.Reader) (seq byte, payload []byte, err error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := int(hdr[0]) | int(hdr[1])<<8 | int(hdr[2])<<16
	if n > maxPacket {
		return 0, nil, fmt.Errorf("packet of %d bytes is too large", n)
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	return hdr[3], payload, nil
}

// parseMySQLGreeting checks a HandshakeV10 payload offers SSL.
func parseMySQLGreeting(p []byte) error {
	if len(p) == 0 {
		return errors.New("MySQL greeting: empty")
	}
	if p[0] == 0xff { // ERR packet: code, then (with "#" and SQL state) a message
		msg := ""
		if len(p) > 3 {
			msg = clip(string(p[3:]))
		}
		return fmt.Errorf("MySQL server error: %q", msg)
	}
	if p[0] != 10 {
		return fmt.Errorf("MySQL greeting: protocol version %d, want 10", p[0])
	}
	end := bytes.IndexByte(p[1:], 0)
	if end < 0 {
		return errors.New("MySQL greeting: truncated server version")
	}
	rest := p[1+end+1:]
	// connection id (4), auth-plugin-data part 1 (8), filler (1), capability flags (2)
	if len(rest) < 15 {
		return errors.New("MySQL greeting: truncated")
	}
	if binary.LittleEndian.Uint16(rest[13:15])&mysqlSSL == 0 {
		return errors.New("MySQL server does not support SSL")
	}
	return nil
}

const (
	xmppStreamsNS = "http://etherx.jabber.org/streams"
	xmppTLSNS     = "urn:ietf:params:xml:ns:xmpp-tls"
)

// xmppDialog is RFC 6120 §5.4: open a stream to the domain, find <starttls/> among the
// features, send <starttls/>, get <proceed/>.
func xmppDialog(d *dialog, name string) error {
	var to bytes.Buffer
	if err := xml.EscapeText(&to, []byte(name)); err != nil {
		return err
	}
	if err := d.send("<?xml version='1.0'?><stream:stream to='" + to.String() +
		"' version='1.0' xmlns='jabber:client' xmlns:stream='" + xmppStreamsNS + "'>"); err != nil {
		return err
	}
	// A bufio.Reader is an io.ByteReader, so the decoder reads byte by byte and stops right
	// after <proceed/>: nothing of the TLS handshake is consumed.
	dec := xml.NewDecoder(d.r)
	offered, err := xmppFeatures(dec)
	if err != nil {
		return err
	}
	if !offered {
		return errors.New("XMPP server does not offer STARTTLS")
	}
	if err := d.send("<starttls xmlns='" + xmppTLSNS + "'/>"); err != nil {
		return err
	}
	for range maxXMLToken {
		t, err := dec.Token()
		if err != nil {
			return fmt.Errorf("XMPP STARTTLS: %w", err)
		}
		if s, ok := t.(xml.StartElement); ok {
			switch {
			case s.Name.Space == xmppTLSNS && s.Name.Local == "proceed":
				return nil
			case s.Name.Space == xmppTLSNS && s.Name.Local == "failure":
				return errors.New("XMPP STARTTLS: server answered <failure/>")
			case s.Name.Space == xmppStreamsNS && s.Name.Local == "error":
				return errors.New("XMPP STARTTLS: stream error")
			}
		}
	}
	return errors.New("XMPP STARTTLS: no answer")
}

// xmppFeatures reads the server's stream header and <stream:features>, reporting whether
// <starttls/> is among them.
func xmppFeatures(dec *xml.Decoder) (bool, error) {
	inFeatures, offered := false, false
	for range maxXMLToken {
		t, err := dec.Token()
		if err != nil {
			return false, fmt.Errorf("XMPP stream: %w", err)
		}
		switch t := t.(type) {
		case xml.StartElement:
			switch {
			case t.Name.Space == xmppStreamsNS && t.Name.Local == "features":
				inFeatures = true
			case t.Name.Space == xmppStreamsNS && t.Name.Local == "error":
				return false, errors.New("XMPP stream error")
			case inFeatures && t.Name.Space == xmppTLSNS && t.Name.Local == "starttls":
				offered = true
			}
		case xml.EndElement:
			if t.Name.Space == xmppStreamsNS && t.Name.Local == "features" {
				return offered, nil
			}
			if t.Name.Space == xmppStreamsNS && t.Name.Local == "stream" {
				return false, errors.New("XMPP stream closed")
			}
		}
	}
	return false, errors.New("XMPP stream: no features")
}
