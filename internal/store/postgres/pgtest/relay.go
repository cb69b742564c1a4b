package pgtest

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Relay is a TCP proxy on a loopback port in front of PostgreSQL that a
// test can cut and restore, to play an outage without touching the
// machine's PostgreSQL service.
type Relay struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cond  *sync.Cond
	state relayState
	conns map[net.Conn]struct{}

	// turns counts round trips: see Turns.
	turns atomic.Int64
}

type relayState int

const (
	forwarding relayState = iota
	// refusing: new connections are closed at once and live ones are
	// closed: the database looks down (connection refused / reset).
	refusing
	// silent: connections are accepted and bytes are swallowed: the
	// database looks unreachable behind a dead network (timeouts).
	silent
)

// NewRelay listens on 127.0.0.1:0 and forwards to target (host:port). It
// closes when the test ends.
func NewRelay(t testing.TB, target string) *Relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("pgtest: relay listen: %v", err)
	}
	r := &Relay{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	r.cond = sync.NewCond(&r.mu)
	go r.accept()
	t.Cleanup(r.close)
	return r
}

// Addr is the relay's host:port.
func (r *Relay) Addr() string { return r.ln.Addr().String() }

// Turns is how many times, over all connections so far, a client sent
// bytes after PostgreSQL had answered it: the round trips the client
// waited for. Several messages written before any answer came back
// (a pipelined batch) are one turn, however many statements they hold,
// so a test can assert how many times an operation waited on the
// network independently of timing. Connection setup counts too; take
// the difference around the operation measured.
func (r *Relay) Turns() int64 { return r.turns.Load() }

// Cut closes every relayed connection and refuses new ones until Restore.
func (r *Relay) Cut() { r.set(refusing) }

// Silence keeps connections open but forwards nothing until Restore or
// Cut: reads on either side block, as behind a dead network.
func (r *Relay) Silence() { r.set(silent) }

// Restore forwards again (connections cut stay closed; clients reconnect).
func (r *Relay) Restore() { r.set(forwarding) }

func (r *Relay) set(s relayState) {
	r.mu.Lock()
	r.state = s
	if s == refusing {
		for c := range r.conns {
			c.Close()
		}
	}
	r.cond.Broadcast()
	r.mu.Unlock()
}

func (r *Relay) close() {
	r.ln.Close()
	r.set(refusing)
}

func (r *Relay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.state == refusing {
		c.Close()
		return false
	}
	r.conns[c] = struct{}{}
	return true
}

func (r *Relay) untrack(c net.Conn) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
	c.Close()
}

func (r *Relay) accept() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		if !r.track(c) {
			continue
		}
		go r.serve(c)
	}
}

func (r *Relay) serve(client net.Conn) {
	defer r.untrack(client)
	// A silent relay accepts but does not dial until it speaks again.
	if !r.wait() {
		return
	}
	upstream, err := net.Dial("tcp", r.target)
	if err != nil {
		return
	}
	if !r.track(upstream) {
		return
	}
	defer r.untrack(upstream)
	// answered is set when PostgreSQL sent bytes on this connection and
	// cleared by the client's next bytes, which end the turn. A chunk is
	// noted before it is forwarded, so the answer that caused the client
	// to write again is always noted before that write is read.
	var answered atomic.Bool
	done := make(chan struct{}, 2)
	go func() {
		r.pump(upstream, client, func() {
			if answered.Swap(false) {
				r.turns.Add(1)
			}
		})
		done <- struct{}{}
	}()
	go func() { r.pump(client, upstream, func() { answered.Store(true) }); done <- struct{}{} }()
	<-done
}

// wait blocks while the relay is silent; false once it refuses.
func (r *Relay) wait() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.state == silent {
		r.cond.Wait()
	}
	return r.state == forwarding
}

// pump copies src to dst, holding each chunk while the relay is silent
// and dropping the connection when it is cut; read is called for each
// chunk read, before it is forwarded.
func (r *Relay) pump(dst, src net.Conn, read func()) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			read()
			if !r.wait() {
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
