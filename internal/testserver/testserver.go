// Package testserver runs loopback TCP and TLS servers for tests: real sockets, stopped and
// waited for when the test ends.
package testserver

import (
	"crypto/tls"
	"net"
	"sync"
	"testing"
	"time"
)

// deadline bounds every connection, so that a handler waiting on a client that never hangs
// up cannot outlive its test by much.
const deadline = 20 * time.Second

// Server is a listening test server.
type Server struct {
	Addr, Port string
	ln         net.Listener
	mu         sync.Mutex
	conns      map[net.Conn]struct{}
	wg         sync.WaitGroup
}

// Serve listens on addr ("127.0.0.1:0" for any loopback port) and runs handle on every
// connection in its own goroutine until the test ends or Close is called.
func Serve(t testing.TB, addr string, handle func(net.Conn)) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: ln.Addr().String(), ln: ln, conns: map[net.Conn]struct{}{}}
	_, s.Port, _ = net.SplitHostPort(s.Addr)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = struct{}{}
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() {
					s.mu.Lock()
					delete(s.conns, c)
					s.mu.Unlock()
					c.Close()
				}()
				_ = c.SetDeadline(time.Now().Add(deadline))
				handle(c)
			}()
		}
	}()
	t.Cleanup(s.Close)
	return s
}

// Close stops accepting, closes the open connections and waits for their handlers.
func (s *Server) Close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// HandleTLS completes a TLS handshake with cfg and then holds the connection until the client
// hangs up, so that it can read everything the server sent (TLS 1.3 session tickets).
func HandleTLS(cfg *tls.Config) func(net.Conn) {
	return func(c net.Conn) {
		tc := tls.Server(c, cfg)
		if tc.Handshake() == nil {
			_, _ = tc.Read(make([]byte, 1))
		}
	}
}

// TLS serves cert (leaf and chain) on a loopback port.
func TLS(t testing.TB, cert tls.Certificate) *Server {
	t.Helper()
	return Serve(t, "127.0.0.1:0", HandleTLS(&tls.Config{Certificates: []tls.Certificate{cert}}))
}
