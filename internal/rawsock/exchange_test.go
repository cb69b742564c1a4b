//go:build unix

package rawsock_test

import (
	"io"
	"testing"
	"time"

	"gatehouse/internal/rawsock"
)

// Exchange sends Out, calls Sent, waits, and reads the answer into In;
// with a Claim that refuses, nothing is sent and the read still waits for
// the peer.
func TestExchange(t *testing.T) {
	for _, tc := range []struct {
		desc  string
		claim bool
	}{
		{"claimed: the request goes out, then the answer is read", true},
		{"refused: another goroutine took the bytes, only the read happens", false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			c, peer := pair(t)
			raw, err := c.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			sent := 0
			in := make([]byte, 16)
			x := &rawsock.Exchange{Out: []byte("request"), In: in}
			x.Claim = func() bool { return tc.claim }
			x.Sent = func() { sent++ }
			got := make(chan string, 1)
			go func() {
				if !tc.claim {
					time.Sleep(50 * time.Millisecond)
					_, _ = peer.Write([]byte("unasked"))
					got <- ""
					return
				}
				buf := make([]byte, 7)
				_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, _ = io.ReadFull(peer, buf)
				got <- string(buf)
				_, _ = peer.Write([]byte("answer"))
			}()
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if err := x.Run(raw); err != nil {
				t.Fatal(err)
			}
			if peerGot := <-got; tc.claim && peerGot != "request" {
				t.Fatalf("the peer got %q", peerGot)
			}
			want, wantSent, wantWrote := "answer", 1, 7
			if !tc.claim {
				want, wantSent, wantWrote = "unasked", 0, 0
			}
			if string(in[:x.N]) != want || sent != wantSent || x.Wrote != wantWrote || x.Partial || x.WriteErr != nil || x.ReadErr != nil {
				t.Fatalf("read %q, Sent called %d times, wrote %d (partial %v, %v, %v); want %q, %d, %d",
					in[:x.N], sent, x.Wrote, x.Partial, x.WriteErr, x.ReadErr, want, wantSent, wantWrote)
			}
		})
	}
}
