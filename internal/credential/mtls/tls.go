package mtls

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// Trust is the client-CA bundle: the roots client certificates must
// chain to. Build it once from the bundle's PEM; it is immutable and safe
// for concurrent use.
type Trust struct {
	pool  *x509.CertPool
	certs []*x509.Certificate
	names map[string]bool // subjects of the trusted CAs (DN strings)
	list  string          // the same, for the operator's trace
}

// NewTrust parses a PEM bundle of CA certificates. Every block must be a
// CERTIFICATE of a CA (basicConstraints CA:TRUE); a bundle with anything
// else, or none at all, is refused at startup rather than failing
// requests later.
func NewTrust(caPEM []byte) (*Trust, error) {
	t := &Trust{pool: x509.NewCertPool(), names: map[string]bool{}}
	var names []string
	rest := caPEM
	for n := 1; ; n++ {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("mtls: client-CA bundle: PEM block %d is %q, not CERTIFICATE", n, b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("mtls: client-CA bundle: certificate %d: %w", n, err)
		}
		if !c.IsCA {
			return nil, fmt.Errorf("mtls: client-CA bundle: certificate %d (%s) is not a CA certificate", n, c.Subject)
		}
		t.pool.AddCert(c)
		t.certs = append(t.certs, c)
		dn := c.Subject.String()
		if !t.names[dn] {
			t.names[dn] = true
			names = append(names, dn)
		}
	}
	if len(names) == 0 {
		return nil, errors.New("mtls: client-CA bundle holds no PEM certificate")
	}
	if strings.TrimSpace(string(rest)) != "" {
		return nil, errors.New("mtls: client-CA bundle: text after the last PEM block is not PEM")
	}
	t.list = strings.Join(names, "; ")
	return t, nil
}

// TLSConfig is the proxy listener's TLS configuration for mTLS routes:
// certs are the gateway's server certificates.
//
// ClientAuth is tls.RequestClientCert, not VerifyClientCertIfGiven, on
// purpose. With VerifyClientCertIfGiven crypto/tls verifies the chain
// during the handshake, and an untrusted or expired client certificate
// aborts the connection with a TLS alert ("bad certificate"): the client
// gets no HTTP response, no reason code, no request ID, and the gateway
// has no request to trace. With RequestClientCert the handshake still
// proves that the client holds the certificate's private key (crypto/tls
// checks the CertificateVerify signature whenever a certificate is
// sent), and the Verifier then checks the chain against this bundle with
// the gateway's clock, answering mtls.certificate_untrusted or
// mtls.certificate_expired with the issuer, the reason and the dates.
// Routes that do not accept mtls ignore a presented certificate.
//
// ClientCAs is left empty, also on purpose: when the CertificateRequest
// names acceptable CAs, clients such as Go's crypto/tls silently withhold
// a certificate from any other CA, and the gateway could then only say
// "missing" instead of "untrusted: issued by X". An operator whose
// clients hold several certificates and need the hint to pick one (a
// browser) sets cfg.ClientCAs = trust.Pool().
func (t *Trust) TLSConfig(certs ...tls.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: certs,
		ClientAuth:   tls.RequestClientCert,
	}
}

// Pool returns the trusted CAs as a pool (for tls.Config.ClientCAs, see
// TLSConfig). The caller must not modify it.
func (t *Trust) Pool() *x509.CertPool { return t.pool }

// TLSConfig parses caPEM (NewTrust) and returns the listener
// configuration (Trust.TLSConfig) together with the Trust to give the
// Verifier: both must come from the same bundle.
func TLSConfig(caPEM []byte, certs ...tls.Certificate) (*tls.Config, *Trust, error) {
	t, err := NewTrust(caPEM)
	if err != nil {
		return nil, nil, err
	}
	return t.TLSConfig(certs...), t, nil
}

// Trusted lists the subjects of the trusted CAs, "; "-separated.
func (t *Trust) Trusted() string { return t.list }
