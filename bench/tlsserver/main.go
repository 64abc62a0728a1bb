// Command tlsserver is the loopback TLS endpoint of bench/probe.sh: a Go crypto/tls server
// (ECDSA P-256 leaf + intermediate, TLS 1.3) in its own process, so that the exporter's CPU
// figures count the prober alone, as the peers were measured.
//
//	go run ./bench/tlsserver -dir DIR    (writes DIR/ca.pem, prints the address, serves until killed)
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/cert-expiry-exporter/cert_expiry_exporter/internal/testcerts"
)

func main() {
	dir := flag.String("dir", ".", "where to write ca.pem, the root to verify the served chain with")
	flag.Parse()
	pki := testcerts.NewPKI("Bench", time.Now())
	leaf := pki.Leaf(testcerts.Options{DNSNames: []string{"localhost"}})
	if err := os.WriteFile(filepath.Join(*dir, "ca.pem"), pki.Root.PEM(), 0o600); err != nil {
		log.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{leaf.TLS(pki.Intermediate)}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go serve(c)
	}
}

// serve completes the handshake and waits for the prober to hang up.
func serve(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if c.(*tls.Conn).Handshake() == nil {
		_, _ = c.Read(make([]byte, 1))
	}
}
