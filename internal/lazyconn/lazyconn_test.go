package lazyconn

import (
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// TestLazyDeadlines: a deadline moved later by less than Slack is
// skipped (the earlier one stays in force, so a timeout fires early, never
// late); an earlier deadline, a much later one and clearing always apply.
func TestLazyDeadlines(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := Wrap(a)
	now := time.Now()
	steps := []struct {
		desc string
		set  time.Time
		want time.Time // the deadline in force afterwards
	}{
		{"first deadline applies", now.Add(time.Second), now.Add(time.Second)},
		{"a little later: skipped", now.Add(time.Second + 10*time.Millisecond), now.Add(time.Second)},
		{"later by more than the slack: applies", now.Add(2 * time.Second), now.Add(2 * time.Second)},
		{"earlier: applies", now.Add(300 * time.Millisecond), now.Add(300 * time.Millisecond)},
		{"cleared: applies", time.Time{}, time.Time{}},
		{"after clearing, any deadline applies", now.Add(80 * time.Millisecond), now.Add(80 * time.Millisecond)},
	}
	for _, s := range steps {
		if err := c.SetReadDeadline(s.set); err != nil {
			t.Fatal(err)
		}
		if !c.rd.Equal(s.want) {
			t.Errorf("%s: read deadline %v, want %v", s.desc, c.rd, s.want)
		}
	}
	// The deadline in force (80 ms) fires even after a skipped later one.
	_ = c.SetReadDeadline(time.Now().Add(85 * time.Millisecond))
	start := time.Now()
	_, err := c.Read(make([]byte, 1))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read: %v, want a deadline error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the read waited %v", d)
	}
}

// TestConcurrentDeadlines: deadlines set from two goroutines at once (run
// with -race).
func TestConcurrentDeadlines(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := Wrap(a)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 1000 {
			_ = c.SetReadDeadline(time.Unix(1, 0))
		}
	}()
	for range 1000 {
		_ = c.SetReadDeadline(time.Now().Add(time.Minute))
		_ = c.SetWriteDeadline(time.Now().Add(time.Minute))
	}
	<-done
}
