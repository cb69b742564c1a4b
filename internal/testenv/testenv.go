// Package testenv is how tests ask for what they need from the machine —
// a program (node, curl, Chromium) or a service (Redis) — in one place,
// with one rule: on a developer machine without it the test is skipped;
// under CI (CI set) it fails, because .ci/run installs or starts
// everything the tests use and a skip there would hide a missing step.
// It also holds the loopback fixtures several packages' tests share.
package testenv

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// Require ends the test when err says something it needs is missing:
// Fatal under CI, Skip elsewhere. what names it for the message.
func Require(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is required in CI (.ci/run provides it): %v", what, err)
	}
	t.Skipf("%s not available, test skipped: %v", what, err)
}

// Program returns the path of name on PATH (see Require).
func Program(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	Require(t, name, err)
	return p
}

// ChromiumPath is Debian's chromium, which .ci/run installs.
const ChromiumPath = "/usr/bin/chromium"

// Chromium returns ChromiumPath (see Require).
func Chromium(t testing.TB) string {
	t.Helper()
	_, err := os.Stat(ChromiumPath)
	Require(t, "chromium (apt-get install -y chromium)", err)
	return ChromiumPath
}

// ReadSyscalls is the process's count of read(2)-like calls so far
// (/proc/self/io "syscr", counted whether or not they return data); an
// error where the kernel keeps none (not Linux, or no task I/O
// accounting). Tests pass the error to Require.
func ReadSyscalls() (int, error) {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "syscr: "); ok {
			return strconv.Atoi(v)
		}
	}
	return 0, errors.New("/proc/self/io has no syscr line")
}

// TCPPair returns both ends of a real loopback TCP connection — the dialled
// one and the accepted one — closed when the test ends.
func TCPPair(t testing.TB) (dialled, accepted *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept() // nil on error
		got <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	a := <-got
	if a == nil {
		c.Close()
		t.Fatal("loopback accept failed")
	}
	t.Cleanup(func() { c.Close(); a.Close() })
	return c.(*net.TCPConn), a.(*net.TCPConn)
}
