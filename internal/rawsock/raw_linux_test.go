//go:build linux

package rawsock_test

import (
	"bytes"
	"io"
	"net"
	"runtime"
	"runtime/trace"
	"testing"

	xtrace "golang.org/x/exp/trace"

	"gatehouse/internal/rawsock"
)

// The point of the package: its reads and writes do not enter the runtime's
// system-call state, which is what wakes the monitor thread (package doc).
// The execution tracer records every goroutine's entry into that state; a
// goroutine making round trips through a Socket must show none, the same
// goroutine through the connection's own methods one per call.
//
// Where Raw is false (the race detector: see Raw) the Socket must instead
// make ordinary calls, one per read and write, as net.Conn does.
func TestSocketCallsBypassTheRuntime(t *testing.T) {
	const trips = 200
	count := func(t *testing.T, through func(c *net.TCPConn) rw) int {
		c, peer := pair(t)
		go io.Copy(peer, peer) // echo
		s := through(c)
		var buf bytes.Buffer
		if err := trace.Start(&buf); err != nil {
			t.Fatal(err)
		}
		id := make(chan xtrace.GoID, 1)
		done := make(chan struct{})
		go func() {
			defer close(done)
			runtime.LockOSThread() // keep the goroutine simple to follow
			defer runtime.UnlockOSThread()
			id <- xtrace.GoID(goid())
			msg, got := []byte("round trip"), make([]byte, 10)
			for range trips {
				if _, err := s.Write(msg); err != nil {
					t.Error(err)
					return
				}
				if _, err := io.ReadFull(s, got); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		<-done
		trace.Stop()
		return syscallEntries(t, &buf, <-id)
	}
	plain := count(t, func(c *net.TCPConn) rw { return c })
	var s rawsock.Socket
	raw := count(t, func(c *net.TCPConn) rw { s.Init(c); return &s })
	t.Logf("system-call entries over %d round trips: net.Conn %d, rawsock %d", trips, plain, raw)
	if plain < 2*trips {
		t.Fatalf("the tracer saw %d system-call entries for net.Conn's %d reads and writes: the check itself does not work", plain, 2*trips)
	}
	switch {
	case rawsock.Raw && raw != 0:
		t.Fatalf("rawsock's reads and writes entered the runtime's system-call state %d times; want 0", raw)
	case !rawsock.Raw && raw < 2*trips:
		t.Fatalf("without raw calls (Raw false) the tracer saw %d system-call entries for %d reads and writes; want ordinary calls", raw, 2*trips)
	}
}

// syscallEntries counts goroutine g's transitions into the syscall state.
func syscallEntries(t *testing.T, r io.Reader, g xtrace.GoID) int {
	t.Helper()
	tr, err := xtrace.NewReader(r)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		ev, err := tr.ReadEvent()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind() != xtrace.EventStateTransition {
			continue
		}
		st := ev.StateTransition()
		if st.Resource.Kind != xtrace.ResourceGoroutine || st.Resource.Goroutine() != g {
			continue
		}
		if _, to := st.Goroutine(); to == xtrace.GoSyscall {
			n++
		}
	}
}

// goid is the running goroutine's id, read from its stack header.
func goid() int64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	var id int64
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + int64(c-'0')
	}
	return id
}
