package testkube

import (
	"io"
	"net"
	"sync"
	"testing"

	"k8s.io/client-go/rest"
)

// Proxy is a loopback TCP proxy in front of the API server, for tests of what a client does
// when its connections break (a load balancer's idle timeout, a node's network) while the API
// server itself runs on. It relays bytes only: TLS is still between client and API server.
type Proxy struct {
	ln       net.Listener
	upstream string

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	refused bool
	accepts int
}

// Proxy starts a proxy to the API server and returns it with the administrator's
// configuration through it; it stops when t ends.
func (c *Cluster) Proxy(t testing.TB) (*Proxy, *rest.Config) {
	t.Helper()
	cfg := c.Config()
	upstream := cfg.Host[len("https://"):]
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, upstream: upstream, conns: map[net.Conn]struct{}{}}
	var wg sync.WaitGroup
	wg.Go(p.serve)
	t.Cleanup(func() {
		ln.Close()
		p.Cut()
		wg.Wait()
	})
	// The serving certificate names 127.0.0.1, whatever the port.
	cfg.Host = "https://" + ln.Addr().String()
	return p, cfg
}

func (p *Proxy) serve() {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		down, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.accepts++
		refused := p.refused
		p.mu.Unlock()
		if refused {
			down.Close()
			continue
		}
		up, err := net.Dial("tcp", p.upstream)
		if err != nil {
			down.Close()
			continue
		}
		p.track(down, up)
		wg.Go(func() { relay(up, down); p.untrack(down, up) })
		wg.Go(func() { relay(down, up); p.untrack(down, up) })
	}
}

// relay copies until either side fails, then closes both (so the other direction ends too).
func relay(dst, src net.Conn) {
	_, _ = io.Copy(dst, src)
	dst.Close()
	src.Close()
}

func (p *Proxy) track(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
}

func (p *Proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
	}
}

// Cut closes every connection through the proxy, as a network failure would: the client's
// requests and watches end with a connection error.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// Refuse makes the proxy close new connections at once (on) or relay them again (off).
func (p *Proxy) Refuse(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refused = on
}

// Accepts is the number of connections the proxy has accepted.
func (p *Proxy) Accepts() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepts
}
