package probe

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/certs"
	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

// expectLine reads one client line and checks it.
func expectLine(r *bufio.Reader, want string) error {
	l, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if l != want+"\r\n" {
		return fmt.Errorf("client sent %q, want %q", l, want)
	}
	return nil
}

// The fake servers below speak each protocol's real greeting and upgrade sequence, as
// Postfix, Dovecot, vsftpd, OpenLDAP, PostgreSQL, MySQL 8 and Prosody do.
var starttlsServers = map[string]func(c net.Conn, r *bufio.Reader) error{
	"smtp": func(c net.Conn, r *bufio.Reader) error {
		io.WriteString(c, "220 mx.test ESMTP Postfix (Debian/GNU)\r\n")
		if err := expectLine(r, "EHLO localhost"); err != nil {
			return err
		}
		io.WriteString(c, "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n")
		if err := expectLine(r, "STARTTLS"); err != nil {
			return err
		}
		_, err := io.WriteString(c, "220 2.0.0 Ready to start TLS\r\n")
		return err
	},
	"imap": func(c net.Conn, r *bufio.Reader) error {
		io.WriteString(c, "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS LOGINDISABLED] Dovecot (Debian) ready.\r\n")
		if err := expectLine(r, "a001 STARTTLS"); err != nil {
			return err
		}
		_, err := io.WriteString(c, "a001 OK Begin TLS negotiation now.\r\n")
		return err
	},
	"pop3": func(c net.Conn, r *bufio.Reader) error {
		io.WriteString(c, "+OK Dovecot (Debian) ready.\r\n")
		if err := expectLine(r, "STLS"); err != nil {
			return err
		}
		_, err := io.WriteString(c, "+OK Begin TLS negotiation now.\r\n")
		return err
	},
	"ftp": func(c net.Conn, r *bufio.Reader) error {
		io.WriteString(c, "220-Welcome to the test FTP service.\r\n  Be nice.\r\n220 (vsFTPd 3.0.3)\r\n")
		if err := expectLine(r, "AUTH TLS"); err != nil {
			return err
		}
		_, err := io.WriteString(c, "234 Proceed with negotiation.\r\n")
		return err
	},
	"ldap": func(c net.Conn, r *bufio.Reader) error {
		tag, msg, err := readTLV(r)
		if err != nil {
			return err
		}
		if tag != 0x30 || !bytes.Equal(append([]byte{0x30, byte(len(msg))}, msg...), ldapStartTLS) {
			return fmt.Errorf("not a StartTLS request: %x", msg)
		}
		resp := []byte{0x30, 0x24, 0x02, 0x01, 0x01, 0x78, 0x1f, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00, 0x8a, 0x16}
		_, err = c.Write(append(resp, "1.3.6.1.4.1.1466.20037"...))
		return err
	},
	"postgres": func(c net.Conn, r *bufio.Reader) error {
		var req [8]byte
		if _, err := io.ReadFull(r, req[:]); err != nil {
			return err
		}
		if binary.BigEndian.Uint32(req[:4]) != 8 || binary.BigEndian.Uint32(req[4:]) != 80877103 {
			return fmt.Errorf("not an SSLRequest: %x", req)
		}
		_, err := c.Write([]byte{'S'})
		return err
	},
	"mysql": func(c net.Conn, r *bufio.Reader) error {
		if _, err := c.Write(mysqlGreeting(0xffff)); err != nil {
			return err
		}
		seq, p, err := readMySQLPacket(r)
		if err != nil {
			return err
		}
		if seq != 1 || len(p) != 32 || binary.LittleEndian.Uint32(p)&(mysqlSSL|mysqlProtocol41) != mysqlSSL|mysqlProtocol41 {
			return fmt.Errorf("not an SSLRequest: seq %d %x", seq, p)
		}
		return nil
	},
	"xmpp": func(c net.Conn, r *bufio.Reader) error {
		dec := xml.NewDecoder(r)
		if err := expectElement(dec, xmppStreamsNS, "stream", "to", "xmpp.test"); err != nil {
			return err
		}
		io.WriteString(c, "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='"+xmppStreamsNS+
			"' id='4b1c' from='xmpp.test' version='1.0' xml:lang='en'><stream:features><starttls xmlns='"+xmppTLSNS+
			"'><required/></starttls><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>")
		if err := expectElement(dec, xmppTLSNS, "starttls", "", ""); err != nil {
			return err
		}
		_, err := io.WriteString(c, "<proceed xmlns='"+xmppTLSNS+"'/>")
		return err
	},
}

func expectElement(dec *xml.Decoder, space, local, attr, value string) error {
	t, err := dec.Token()
	for err == nil {
		if s, ok := t.(xml.StartElement); ok {
			if s.Name.Space != space || s.Name.Local != local {
				return fmt.Errorf("got <%s>", s.Name.Local)
			}
			for _, a := range s.Attr {
				if a.Name.Local == attr && a.Value != value {
					return fmt.Errorf("%s=%q", attr, a.Value)
				}
			}
			return nil
		}
		t, err = dec.Token()
	}
	return err
}

// mysqlGreeting is a MySQL 8 Protocol::HandshakeV10 packet with the given lower capabilities.
func mysqlGreeting(caps uint16) []byte {
	var p bytes.Buffer
	p.WriteByte(10)
	p.WriteString("8.0.36\x00")
	p.Write([]byte{7, 0, 0, 0})   // connection id
	p.WriteString("abcdefgh\x00") // auth-plugin-data part 1, filler
	binary.Write(&p, binary.LittleEndian, caps)
	p.Write([]byte{0xff, 2, 0, 0xff, 0xdf, 21}) // charset, status, upper capabilities, auth data length
	p.Write(make([]byte, 10))
	p.WriteString("ijklmnopqrst\x00caching_sha2_password\x00")
	n := p.Len()
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), 0}, p.Bytes()...)
}

// TestStartTLSServers runs each dialog against a loopback server, then the TLS handshake.
func TestStartTLSServers(t *testing.T) {
	pki := testcerts.NewPKI("StartTLS", t0)
	leaf := pki.Leaf(testcerts.Options{DNSNames: []string{"xmpp.test"}, Now: t0})
	for proto, pre := range starttlsServers {
		t.Run(proto, func(t *testing.T) {
			s := tlsServer(t, "127.0.0.1", certCfg(leaf, pki.Intermediate), pre)
			m := caModule(t, pki)
			m.StartTLS = proto
			r := Run(context.Background(), "xmpp.test:"+s.Port, m, Options{Resolver: fakeResolver{"xmpp.test": {"127.0.0.1"}}, Now: clock})
			if !r.Success() || r.Addrs[0].Chain.Verify.Reason != certs.ReasonOK {
				t.Fatalf("got %+v\n%s", r.Addrs, strings.Join(r.Log, "\n"))
			}
		})
	}
}

// TestDialogs checks each dialog's handling of server answers without a network.
func TestDialogs(t *testing.T) {
	ldapResp := func(id, code byte, diag string) string {
		op := append([]byte{0x0a, 0x01, code, 0x04, 0x00, 0x04, byte(len(diag))}, diag...)
		msg := append([]byte{0x02, 0x01, id, 0x78, byte(len(op))}, op...)
		return string(append([]byte{0x30, byte(len(msg))}, msg...))
	}
	tests := []struct {
		proto, server, sent, err string
	}{
		{"smtp", "220-mx\r\n220 ready\r\n250-mx\r\n250 STARTTLS\r\n220 go\r\n", "EHLO localhost\r\nSTARTTLS\r\n", ""},
		{"smtp", "554 no service\r\n", "", "want 220"},
		{"smtp", "220 mx\r\n250-mx\r\n250 SIZE 1\r\n", "EHLO localhost\r\n", "does not offer STARTTLS"},
		{"smtp", "220 mx\r\n250-mx\r\n250 STARTTLS\r\n454 4.7.0 TLS not available\r\n", "EHLO localhost\r\nSTARTTLS\r\n", "want 220"},
		{"smtp", "HTTP/1.1 400\r\n", "", "not a reply"},
		{"smtp", "220-" + strings.Repeat("x", maxLine), "", "longer than"},
		{"smtp", strings.Repeat("220-x\r\n", maxLines+2), "", "longer than 256 lines"},
		{"smtp", "220 mx", "", "unexpected EOF"},
		{"ftp", "220 hi\r\n234 ok\r\n", "AUTH TLS\r\n", ""},
		{"ftp", "220 hi\r\n530 Please login\r\n", "AUTH TLS\r\n", "want 234"},
		{"imap", "* OK ready\r\n* CAPABILITY IMAP4rev1\r\na001 OK go\r\n", "a001 STARTTLS\r\n", ""},
		{"imap", "* BYE busy\r\n", "", "IMAP greeting"},
		{"imap", "* OK ready\r\na001 BAD unknown command\r\n", "a001 STARTTLS\r\n", "BAD"},
		{"pop3", "+OK hi\r\n+OK go\r\n", "STLS\r\n", ""},
		{"pop3", "+OK hi\r\n-ERR no\r\n", "STLS\r\n", "-ERR"},
		{"ldap", ldapResp(1, 0, ""), string(ldapStartTLS), ""},
		{"ldap", ldapResp(1, 2, "unsupported extended operation"), string(ldapStartTLS), "resultCode 2 \"unsupported extended operation\""},
		{"ldap", ldapResp(0, 52, "shutting down"), string(ldapStartTLS), "unsolicited"},
		{"ldap", "\x30\x84\xff\xff\xff\xff", string(ldapStartTLS), "unsupported BER length"},
		{"ldap", "\x30\x83\xff\xff\xff", string(ldapStartTLS), "too large"},
		{"postgres", "S", "\x00\x00\x00\x08\x04\xd2\x16\x2f", ""},
		{"postgres", "N", "\x00\x00\x00\x08\x04\xd2\x16\x2f", "does not accept SSL"},
		{"postgres", "E", "\x00\x00\x00\x08\x04\xd2\x16\x2f", "unexpected answer"},
		{"mysql", string(mysqlGreeting(0xffff)), "", ""},
		{"mysql", string(mysqlGreeting(0xffff &^ mysqlSSL)), "", "does not support SSL"},
		{"mysql", "\x12\x00\x00\x00\xff\x69\x04Host is blocked", "", "Host is blocked"},
		{"mysql", "\x02\x00\x00\x00\x09x", "", "protocol version 9"},
		{"xmpp", "<stream:stream xmlns:stream='" + xmppStreamsNS + "'><stream:features><starttls xmlns='" + xmppTLSNS + "'/></stream:features><proceed xmlns='" + xmppTLSNS + "'/>", "", ""},
		{"xmpp", "<stream:stream xmlns:stream='" + xmppStreamsNS + "'><stream:features><bind/></stream:features>", "", "does not offer STARTTLS"},
		{"xmpp", "<stream:stream xmlns:stream='" + xmppStreamsNS + "'><stream:features><starttls xmlns='" + xmppTLSNS + "'/></stream:features><failure xmlns='" + xmppTLSNS + "'/>", "", "<failure/>"},
		{"xmpp", "<stream:stream xmlns:stream='" + xmppStreamsNS + "'><stream:error><host-unknown/></stream:error>", "", "stream error"},
	}
	for i, tc := range tests {
		var sent bytes.Buffer
		err := startTLS(newDialog(strings.NewReader(tc.server), &sent), tc.proto, "xmpp.test")
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%d %s: %v", i, tc.proto, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%d %s: error %v, want %q", i, tc.proto, err, tc.err)
		}
		if tc.sent != "" && sent.String() != tc.sent {
			t.Errorf("%d %s: sent %q, want %q", i, tc.proto, sent.String(), tc.sent)
		}
	}
}

// TestDialogLeavesTLSBytes: bytes the server sends right after the go-ahead belong to TLS and
// must not be swallowed by the dialog's reader.
func TestDialogLeavesTLSBytes(t *testing.T) {
	d := newDialog(strings.NewReader("+OK hi\r\n+OK go\r\nTLS"), io.Discard)
	if err := startTLS(d, "pop3", ""); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(d.r)
	if string(rest) != "TLS" {
		t.Errorf("left %q", rest)
	}
	if err := startTLS(d, "gopher", ""); err == nil || errors.Is(err, io.EOF) {
		t.Errorf("unknown protocol: %v", err)
	}
}
