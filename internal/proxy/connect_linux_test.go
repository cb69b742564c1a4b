//go:build linux

package proxy_test

import (
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/proxy/proxytest"
	"gatehouse/internal/reason"
)

// fullBacklog returns the address of a listener that never accepts and
// whose accept queue is already full, so a new connection attempt hangs
// in SYN-SENT: the one way to make a connect time out on loopback.
func fullBacklog(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	// Fill the queue; a dial that times out shows it is full.
	for range 4 {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return addr
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("could not fill the listener's accept queue on this kernel")
	return ""
}

func TestConnectTimeout(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			g := proxytest.NewGateway(t, e.new)
			target := "http://" + fullBacklog(t)
			g.Service(func(s *domain.Service) { s.Timeouts.Connect = domain.Duration(150 * time.Millisecond) }, target)
			resp, body := g.Get("/")
			if resp.StatusCode != 504 {
				t.Errorf("status %d %s", resp.StatusCode, body)
			}
			rec := g.Next()
			re := rec.Reason()
			if re == nil || re.Code != reason.UpstreamTimeout || !strings.Contains(re.Debug, target) || !strings.Contains(re.Debug, "connect") {
				t.Errorf("Forward error = %v", rec.Err)
			}
		})
	}
}
