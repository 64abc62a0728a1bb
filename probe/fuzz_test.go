package probe

import (
	"bytes"
	"io"
	"testing"
)

// fuzzDialog runs proto's dialog against arbitrary server bytes: it must return, not panic.
func fuzzDialog(f *testing.F, protos []string, seeds ...string) {
	for _, s := range seeds {
		f.Add(byte(0), []byte(s))
	}
	f.Fuzz(func(t *testing.T, which byte, data []byte) {
		proto := protos[int(which)%len(protos)]
		_ = startTLS(newDialog(bytes.NewReader(data), io.Discard), proto, "fuzz.test")
	})
}

func FuzzLineDialogs(f *testing.F) {
	fuzzDialog(f, []string{"smtp", "ftp", "imap", "pop3"},
		"220-mx\r\n220 ready\r\n250-mx\r\n250 STARTTLS\r\n220 go\r\n",
		"220-hi\r\n text\r\n220 hi\r\n234 ok\r\n",
		"* OK ready\r\n* CAPABILITY X\r\na001 OK go\r\n",
		"+OK hi\r\n+OK go\r\n")
}

func FuzzLDAPResponse(f *testing.F) {
	fuzzDialog(f, []string{"ldap"}, "\x30\x0c\x02\x01\x01\x78\x07\x0a\x01\x00\x04\x00\x04\x00", "\x30\x81\x05\x02\x01\x01\x78\x00")
}

func FuzzMySQLGreeting(f *testing.F) {
	fuzzDialog(f, []string{"mysql", "postgres"}, string(mysqlGreeting(0xffff)), "S")
}

func FuzzXMPPStream(f *testing.F) {
	fuzzDialog(f, []string{"xmpp"}, "<stream:stream xmlns:stream='"+xmppStreamsNS+"'><stream:features><starttls xmlns='"+xmppTLSNS+
		"'/></stream:features><proceed xmlns='"+xmppTLSNS+"'/>")
}
