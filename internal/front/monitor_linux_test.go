//go:build linux

package front

import (
	"bufio"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"gatehouse/internal/rawsock"
)

// The front's sockets are read and written raw (package rawsock), which
// lets the runtime's monitor sleep through a burst of work; the monitor is
// also what preempts a goroutine that computes for long. The front keeps
// it from sleeping longer than rawsock.MonitorBeat. The scenario that
// needs it, with one P: the process idles with nothing but raw calls and
// far-off timers, a request arrives from another process, and its handler
// computes for a second. A goroutine the handler started must run long
// before that second is over (without the beat it waited the full second).
func TestLongHandlerStillPreempted(t *testing.T) {
	if !rawsock.Raw {
		t.Skip("sockets are read and written with ordinary calls in this build (race detector)")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const burn = time.Second
	waited := make(chan time.Duration, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		go func() { waited <- time.Since(t0) }()
		for time.Since(t0) < burn {
		}
		w.WriteHeader(http.StatusNoContent)
	})
	// No sweeper tick in the window: its timer would wake the monitor too.
	addr := serve(t, &Server{Handler: h, WatchAfter: time.Hour})

	// The client is another process, so that none of its calls (ordinary
	// ones, which wake the monitor) are this process's.
	cmd := exec.Command(os.Args[0], "-test.run=^TestLongHandlerClient$")
	cmd.Env = append(os.Environ(), "GATEHOUSE_TEST_FRONT_ADDR="+addr)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Wait() }()
	defer out.Close()

	d := <-waited // a channel, not a timer: this process stays quiet
	t.Logf("a runnable goroutine waited %v while its handler computed for %v (monitor beat %v)", d, burn, rawsock.MonitorBeat)
	if d > burn/2 {
		t.Fatalf("a runnable goroutine waited %v behind a %v computation: it was not preempted", d, burn)
	}
}

// TestLongHandlerClient is TestLongHandlerStillPreempted's client process.
func TestLongHandlerClient(t *testing.T) {
	addr := os.Getenv("GATEHOUSE_TEST_FRONT_ADDR")
	if addr == "" {
		t.Skip("the client process of TestLongHandlerStillPreempted")
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(300 * time.Millisecond) // the server goes idle after the accept
	if _, err := c.Write([]byte("GET /burn HTTP/1.1\r\nHost: gatehouse.test\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
		t.Fatal(err)
	}
}
