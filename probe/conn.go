package probe

import (
	"bufio"
	"errors"
	"net"
)

// Read budgets: a TLS handshake, certificate message included, fits in well under this; a
// server sending more is hostile or broken (Go's client also caps one handshake message at
// 64 KiB, so a 1 MB chain fails early anyway).
const (
	maxHandshakeRead = 512 << 10
	maxProxyResponse = 16 << 10
)

var errReadLimit = errors.New("server sent more than the read limit")

// limitConn fails reads once left bytes have been read.
type limitConn struct {
	net.Conn
	left int
}

func (c *limitConn) Read(p []byte) (int, error) {
	if c.left <= 0 {
		return 0, errReadLimit
	}
	if len(p) > c.left {
		p = p[:c.left]
	}
	n, err := c.Conn.Read(p)
	c.left -= n
	return n, err
}

// bufConn reads through a bufio.Reader that a plain-text phase (STARTTLS, CONNECT) used, so
// no byte it buffered is lost to the TLS handshake.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }
