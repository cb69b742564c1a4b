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
)

// The front's sockets are read and written raw (package rawsock), which
// lets the runtime's monitor sleep through a burst of work; the monitor is
// also what preempts a goroutine that computes for long. It sleeps at most
// until the earliest runtime timer, and the front's sweeper ticks every
// WatchAfter/2 (250 ms by default). The scenario, with one P: the process
// idles with nothing but raw calls, a request arrives from another
// process, and its handler computes for 1.5 s. A goroutine the handler
// started must run well before that is over (with no timer at all it
// waited the full computation).
//
// Run again with GATEHOUSE_TEST_FRONT_ADDR set, the test is that client.
func TestLongHandlerStillPreempted(t *testing.T) {
	if addr := os.Getenv("GATEHOUSE_TEST_FRONT_ADDR"); addr != "" {
		longHandlerClient(t, addr)
		return
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const burn = 1500 * time.Millisecond
	waited := make(chan time.Duration, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		go func() { waited <- time.Since(t0) }()
		for time.Since(t0) < burn {
		}
		w.WriteHeader(http.StatusNoContent)
	})
	addr := serve(t, &Server{Handler: h}) // the default WatchAfter

	// The client is another process, so that none of its calls (ordinary
	// ones, which wake the monitor) are this process's.
	cmd := exec.Command(os.Args[0], "-test.run=^TestLongHandlerStillPreempted$")
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
	t.Logf("a runnable goroutine waited %v while its handler computed for %v", d, burn)
	if d > burn/2 {
		t.Fatalf("a runnable goroutine waited %v behind a %v computation: it was not preempted", d, burn)
	}
}

// longHandlerClient is TestLongHandlerStillPreempted's client process: it
// connects, lets the server go idle, then sends the computing request.
func longHandlerClient(t *testing.T, addr string) {
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
