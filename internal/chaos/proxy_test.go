//go:build linux

package chaos

import (
	"io"
	"net"
	"sync"
	"time"
)

// proxy is a loopback TCP proxy between an agent and a server replica. It
// passes traffic, drops it (a partition: open connections are cut, new ones
// are accepted and never answered) or delays every chunk.
type proxy struct {
	ln net.Listener

	mu     sync.Mutex // guards target, drop, delay, conns
	target string
	drop   bool
	delay  time.Duration
	conns  map[net.Conn]bool
}

func newProxy(target string) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]bool{}}
	go p.serve()
	return p, nil
}

func (p *proxy) url() string { return "http://" + p.ln.Addr().String() }

func (p *proxy) close() {
	p.ln.Close()
	p.cut()
}

// partition drops all traffic until heal.
func (p *proxy) partition() {
	p.mu.Lock()
	p.drop = true
	p.mu.Unlock()
	p.cut()
}

// slow delays every chunk by d until heal.
func (p *proxy) slow(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

func (p *proxy) heal() {
	p.mu.Lock()
	p.drop, p.delay = false, 0
	p.mu.Unlock()
	p.cut() // connections held during the partition never reach the server
}

// cut closes every connection.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *proxy) track(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		p.conns[c] = true
	}
}

func (p *proxy) state() (drop bool, delay time.Duration, target string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.drop, p.delay, p.target
}

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.track(c)
		drop, _, target := p.state()
		if drop {
			go func() { _, _ = io.Copy(io.Discard, c) }() // a black hole
			continue
		}
		go p.pipe(c, target)
	}
}

func (p *proxy) pipe(c net.Conn, target string) {
	s, err := net.DialTimeout("tcp", target, 2*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.track(s)
	go p.copy(s, c)
	p.copy(c, s)
}

// copy forwards src to dst, holding each chunk for the current delay and
// discarding it while the proxy drops traffic.
func (p *proxy) copy(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			drop, delay, _ := p.state()
			if delay > 0 {
				time.Sleep(delay)
			}
			if drop {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
