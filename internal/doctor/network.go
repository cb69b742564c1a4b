package doctor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"
)

// Check names of the network phase.
const (
	checkDNS  = "DNS"
	checkTCP  = "TCP"
	checkTLS  = "TLS"
	checkHTTP = "HTTP"
)

// maxAddrs bounds how many resolved addresses are tried.
const maxAddrs = 4

// hostPort is the URL's host and port (the scheme's default if none).
func (r *run) hostPort() (host, port string) {
	host, port = r.u.Hostname(), r.u.Port()
	if port == "" {
		port = "80"
		if r.u.Scheme == "https" {
			port = "443"
		}
	}
	return host, port
}

// probe walks the layers below HTTP — DNS, TCP, TLS — and returns the
// first failure. Each layer is one check, so the user sees how far the
// request got.
func (r *run) probe(ctx context.Context) *finding {
	host, port := r.hostPort()
	addrs, f := r.resolve(ctx, host)
	if f != nil {
		return f
	}
	conn, f := r.connect(ctx, addrs, host, port)
	if f != nil {
		return f
	}
	defer conn.Close()
	if r.u.Scheme == "https" {
		return r.handshake(ctx, conn, host, port)
	}
	return nil
}

func (r *run) resolve(ctx context.Context, host string) ([]string, *finding) {
	if net.ParseIP(host) != nil {
		r.add(GroupNetwork, checkDNS, Pass, host+" is an IP address: nothing to resolve")
		return []string{host}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()
	addrs, err := r.o.Resolver.LookupHost(ctx, host)
	if err == nil && len(addrs) == 0 {
		err = &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	if err != nil {
		var de *net.DNSError
		var d string
		switch {
		case errors.As(err, &de) && de.IsNotFound:
			d = fmt.Sprintf("cannot resolve host %s: check the URL or DNS (the name does not exist)", host)
		case isTimeout(err):
			d = fmt.Sprintf("looking up host %s timed out after %s: check the network and the DNS server", host, human(r.o.Timeout))
		default:
			d = fmt.Sprintf("cannot resolve host %s: check the URL or DNS (%s)", host, rootCause(err))
		}
		r.add(GroupNetwork, checkDNS, Fail, d)
		return nil, &finding{code: NetworkDNS,
			fix: fmt.Sprintf("This machine cannot resolve %s: check the host name in the URL, then your DNS (VPN, /etc/hosts, resolver).", host)}
	}
	r.add(GroupNetwork, checkDNS, Pass, host+" resolves to "+strings.Join(addrs, ", "))
	return addrs, nil
}

func (r *run) connect(ctx context.Context, addrs []string, host, port string) (net.Conn, *finding) {
	d := net.Dialer{Timeout: r.o.Timeout}
	if len(addrs) > maxAddrs {
		addrs = addrs[:maxAddrs]
	}
	var err error
	for _, a := range addrs {
		start := time.Now()
		var c net.Conn
		c, err = d.DialContext(ctx, "tcp", net.JoinHostPort(a, port))
		if err == nil {
			r.add(GroupNetwork, checkTCP, Pass, fmt.Sprintf("connected to %s in %s", net.JoinHostPort(a, port), human(time.Since(start))))
			return c, nil
		}
	}
	hp := net.JoinHostPort(host, port)
	var f finding
	var detail string
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		detail = fmt.Sprintf("connection refused on port %s of %s: nothing listens there", port, host)
		f = finding{code: NetworkRefused, fix: fmt.Sprintf("Nothing listens on port %s of %s: check the port in the URL and that the gateway is running.", port, host)}
	case isTimeout(err):
		detail = fmt.Sprintf("no answer from %s within %s (TCP connect timed out): a firewall may be dropping the packets, or the host is down", hp, human(r.o.Timeout))
		f = finding{code: NetworkTimeout, fix: fmt.Sprintf("%s does not answer from this network: check firewalls, VPN and security groups between you and the gateway.", hp)}
	case errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH):
		detail = fmt.Sprintf("%s is unreachable from this machine (no route): check the network or VPN", host)
		f = finding{code: NetworkUnreachable, fix: fmt.Sprintf("There is no route from this machine to %s: check your network connection or VPN.", host)}
	default:
		detail = fmt.Sprintf("TCP connection to %s failed: %s", hp, rootCause(err))
		f = finding{code: NetworkUnreachable, fix: fmt.Sprintf("This machine cannot open a connection to %s: check the URL and your network.", hp)}
	}
	r.add(GroupNetwork, checkTCP, Fail, detail)
	return nil, &f
}

// tlsConfig is the TLS configuration of every connection to the gateway.
func (r *run) tlsConfig() *tls.Config {
	return &tls.Config{RootCAs: r.o.RootCAs, MinVersion: tls.VersionTLS12, ServerName: r.u.Hostname()}
}

func (r *run) handshake(ctx context.Context, conn net.Conn, host, port string) *finding {
	ctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()
	tc := tls.Client(conn, r.tlsConfig())
	err := tc.HandshakeContext(ctx)
	if err == nil {
		r.tlsPass(tc.ConnectionState(), host)
		return nil
	}
	var (
		ua x509.UnknownAuthorityError
		he x509.HostnameError
		ci x509.CertificateInvalidError
		rh tls.RecordHeaderError
	)
	var detail string
	var f finding
	switch {
	case errors.As(err, &ua):
		detail = fmt.Sprintf("TLS handshake failed: the certificate of %s is signed by an unknown authority (self-signed, or a private CA this machine does not trust)", host)
		f = finding{code: NetworkTLS, fix: "This machine does not trust the gateway's certificate: pass its CA certificate with --cacert, or ask the operator for a certificate from a public CA."}
	case errors.As(err, &he):
		names := "other names"
		if he.Certificate != nil && len(he.Certificate.DNSNames) > 0 {
			names = strings.Join(he.Certificate.DNSNames, ", ")
		}
		detail = fmt.Sprintf("TLS handshake failed: the certificate is for %s, not for %s", names, host)
		f = finding{code: NetworkTLS, fix: "The gateway's certificate does not name the host in the URL: use a host name the certificate covers, or ask the operator to fix the certificate."}
	case errors.As(err, &ci) && ci.Reason == x509.Expired:
		detail = fmt.Sprintf("TLS handshake failed: the certificate of %s is expired or not yet valid by this machine's clock (%s)", host, rfc3339(r.now))
		f = finding{code: NetworkTLS, fix: "The gateway's certificate is outside its validity period: ask the operator to renew it (or check this machine's clock)."}
	case errors.As(err, &rh):
		detail = fmt.Sprintf("TLS handshake failed: port %s of %s does not speak TLS (it answered something else, plain HTTP perhaps)", port, host)
		f = finding{code: NetworkTLS, fix: fmt.Sprintf("Port %s does not speak TLS: use http:// in the URL, or the gateway's TLS port.", port)}
	case isTimeout(err):
		detail = fmt.Sprintf("TLS handshake with %s timed out after %s: the server accepted the connection but never completed the handshake", net.JoinHostPort(host, port), human(r.o.Timeout))
		f = finding{code: NetworkTimeout, fix: "The gateway accepts connections but does not complete a TLS handshake: check that the port serves TLS, and tell its operator."}
	default:
		detail = "TLS handshake failed: " + strings.TrimPrefix(rootCause(err), "tls: ")
		f = finding{code: NetworkTLS, fix: "The TLS handshake with the gateway fails: check the URL's scheme and port, and tell the operator the detail above."}
	}
	r.add(GroupNetwork, checkTLS, Fail, detail)
	return &f
}

func (r *run) tlsPass(cs tls.ConnectionState, host string) {
	d := tls.VersionName(cs.Version) + " with " + host
	if len(cs.PeerCertificates) == 0 {
		r.add(GroupNetwork, checkTLS, Pass, d)
		return
	}
	leaf := cs.PeerCertificates[0]
	d += "; certificate issued by " + or(leaf.Issuer.CommonName, leaf.Issuer.String()) + ", valid until " + rfc3339(leaf.NotAfter)
	left := leaf.NotAfter.Sub(r.now)
	if left < 14*24*time.Hour {
		r.add(GroupNetwork, checkTLS, Warn, d+fmt.Sprintf(" (only %s left: tell the operator to renew it)", human(left)))
		return
	}
	r.add(GroupNetwork, checkTLS, Pass, d)
}

// httpFailure classifies an error of an HTTP exchange whose lower layers
// worked (the probe got through DNS, TCP and TLS).
func (r *run) httpFailure(err error) (string, *finding) {
	host, port := r.hostPort()
	hp := net.JoinHostPort(host, port)
	msg := rootCause(err)
	switch {
	case isTimeout(err):
		return fmt.Sprintf("the server at %s accepted the connection but sent no HTTP response within %s: it is hung or overloaded, or not an HTTP server", hp, human(r.o.Timeout)),
			&finding{code: NetworkTimeout, fix: fmt.Sprintf("The server at %s accepts connections but does not answer HTTP in time: tell the gateway's operator (it may be hung or overloaded).", hp)}
	case strings.Contains(msg, "HTTP response to HTTPS client"):
		return fmt.Sprintf("the server at %s answered in plain HTTP to a TLS handshake", hp),
			&finding{code: NetworkTLS, fix: "The gateway does not use TLS on this port: use http:// in the URL."}
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET):
		return fmt.Sprintf("the server at %s closed the connection without an HTTP response: is this port an HTTP server (or does it expect https://)?", hp),
			&finding{code: NetworkHTTP, fix: fmt.Sprintf("The server at %s does not answer HTTP: check the URL's scheme and port.", hp)}
	case strings.Contains(msg, "malformed HTTP"):
		return fmt.Sprintf("the server at %s does not speak HTTP (malformed response): is this the right port?", hp),
			&finding{code: NetworkHTTP, fix: fmt.Sprintf("The server at %s does not speak HTTP: check the URL's port.", hp)}
	}
	return fmt.Sprintf("the HTTP request to %s failed: %s", hp, msg),
		&finding{code: NetworkHTTP, fix: fmt.Sprintf("The HTTP exchange with %s fails: check the URL, and tell the gateway's operator the detail above.", hp)}
}

// isTimeout reports a deadline, however it is wrapped.
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// rootCause strips Go's error chain ("Get \"…\": dial tcp …: connect: …")
// down to the innermost message, which is the part that means something
// to a person.
func rootCause(err error) string {
	for {
		switch e := err.(type) {
		case *url.Error:
			err = e.Err
			continue
		case *net.OpError:
			err = e.Err
			continue
		case *os.SyscallError:
			err = e.Err
			continue
		case *net.DNSError:
			return e.Err
		}
		return err.Error()
	}
}
