//go:build !unix

package proxy

import "net"

// peerClosed cannot peek on this platform: the stale-connection retry
// covers it.
func peerClosed(net.Conn) bool { return false }
