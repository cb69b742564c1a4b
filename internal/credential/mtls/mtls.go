// Package mtls verifies TLS client certificates (spec §4, issue 4 item
// 4): the "mtls" method of credential.Verifier.
//
// # Listener wiring
//
// The proxy listener uses Trust.TLSConfig (ClientAuth RequestClientCert;
// see there for why the chain is verified here rather than in the
// handshake). The handshake proves possession of the certificate's key;
// this package judges the certificate.
//
// # Order of checks, and why
//
//  1. A certificate was presented over TLS: else mtls.certificate_missing.
//  2. The leaf's SHA-256 fingerprint; a cache of verified leaves (keyed by
//     it, bounded LRU, valid while now is inside the chain's validity)
//     skips step 3 for a client seen before: chain building with a
//     signature check costs tens of microseconds, a fingerprint about one.
//  3. The chain, with crypto/x509 against the Trust's roots, the
//     certificates the client sent after the leaf as intermediates, the
//     gateway's clock and the clientAuth extended key usage. Trust is
//     judged before time: an expired certificate from an unknown CA is
//     mtls.certificate_untrusted (its dates are beside the point), an
//     expired certificate from a trusted CA mtls.certificate_expired with
//     notBefore/notAfter and the gateway's clock. Untrusted details name
//     the issuer and why (unknown CA, self-signed, a CA with a trusted
//     CA's name but another key, wrong key usage, an intermediate that is
//     not a CA); the list of trusted CAs goes to the operator's trace.
//  4. The binding: by fingerprint (lowercase hex SHA-256 of the leaf's
//     DER), then by issuer and subject DN. None is
//     mtls.certificate_unmapped (403): the caller proved possession of a
//     trusted certificate, so it is told the fingerprint and subject to
//     give the operator.
//
// Revocation (CRL, OCSP) is not checked: remove the binding, or the CA
// from the bundle.
package mtls

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"gatehouse/internal/authheader"
	"gatehouse/internal/credential"
	"gatehouse/internal/digestcache"
	"gatehouse/internal/domain"
	"gatehouse/internal/reason"
	"gatehouse/internal/snapshot"
)

// Reason codes (catalogued in internal/reason).
const (
	CodeMissing   = "mtls.certificate_missing"
	CodeUntrusted = "mtls.certificate_untrusted"
	CodeExpired   = "mtls.certificate_expired"
	CodeUnmapped  = "mtls.certificate_unmapped"
)

// SourceClientCertificate is the authheader.Credential Source of a
// request that presented a client certificate (see Present).
const SourceClientCertificate = "client-certificate"

// DefaultCacheSize is how many verified leaf certificates are remembered.
const DefaultCacheSize = 10000

// Binding is an mtls credential as the request path sees it; the
// integrator builds one per domain.Credential of type mtls.
type Binding struct {
	// CredentialID is the credential's public id (domain.Credential.ID).
	CredentialID string
	Consumer     *snapshot.Consumer
	Scopes       []string
	ScopeHeader  string
	// ExpiresAt is the binding's own expiry (the certificate's notAfter
	// applies anyway).
	ExpiresAt *time.Time
	IPAllow   []netip.Prefix
}

// Bindings finds the binding of a verified certificate. The server
// implements it over the snapshot's live mtls credentials.
type Bindings interface {
	// ByFingerprint: fp is the lowercase hex SHA-256 of the leaf's DER, no
	// colons (domain.Credential.FingerprintSHA256).
	ByFingerprint(fp string) *Binding
	// BySubject: the DNs in crypto/x509's rendering (pkix.Name.String(),
	// RFC 2253 order, e.g. "CN=billing,O=Acme"), as SubjectDN and IssuerDN
	// return them. A credential that records only a subject
	// (domain.Credential.Subject) matches any trusted issuer; one that
	// records an issuer too must match both.
	BySubject(issuerDN, subjectDN string) *Binding
}

type noBindings struct{}

func (noBindings) ByFingerprint(string) *Binding     { return nil }
func (noBindings) BySubject(string, string) *Binding { return nil }

// Options configures a Verifier.
type Options struct {
	// Trust is the client-CA bundle, the same the listener's TLSConfig
	// was made from. Nil trusts no certificate.
	Trust *Trust
	// Bindings returns the bindings of the request's snapshot.
	Bindings func(in *credential.Input) Bindings
	// CacheSize is how many verified leaves to remember (default 10 000;
	// negative: none).
	CacheSize int
}

// Verifier implements credential.Verifier for client certificates. It is
// safe for concurrent use.
type Verifier struct {
	o     Options
	cache *digestcache.LRU[*verified]
}

var _ credential.Verifier = (*Verifier)(nil)

// verified is a leaf whose chain verified; immutable once cached.
type verified struct {
	trust               *Trust
	notBefore, notAfter time.Time // the chain's common validity
	leafNotAfter        time.Time
	fp                  string // lowercase hex
	issuer, subject     string // DNs
	summary             string // trace detail of a cache hit
}

// New returns a Verifier.
func New(o Options) *Verifier {
	if o.Bindings == nil {
		o.Bindings = func(*credential.Input) Bindings { return noBindings{} }
	}
	v := &Verifier{o: o}
	switch {
	case o.CacheSize == 0:
		v.cache = digestcache.NewLRU[*verified](DefaultCacheSize)
	case o.CacheSize > 0:
		v.cache = digestcache.NewLRU[*verified](o.CacheSize)
	}
	return v
}

// Method implements credential.Verifier.
func (*Verifier) Method() string { return domain.AuthMTLS }

// Recognizes implements credential.Verifier: the credential Present
// reported.
func (*Verifier) Recognizes(p authheader.Credential) bool {
	return p.Source == SourceClientCertificate
}

// Present reports a client certificate for the extract stage: a
// Credential with Source SourceClientCertificate when the request came
// over TLS with a certificate. Token is empty (a certificate is not a
// secret) and Scheme names it for messages.
func Present(r *http.Request) (authheader.Credential, bool) {
	if r == nil || r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return authheader.Credential{}, false
	}
	return authheader.Credential{Kind: authheader.Other, Scheme: "client certificate", Source: SourceClientCertificate}, true
}

// Fingerprint is the lowercase hex SHA-256 of the certificate's DER, the
// form bindings are stored in.
func Fingerprint(c *x509.Certificate) string {
	s := sha256.Sum256(c.Raw)
	return hex.EncodeToString(s[:])
}

// ThumbprintS256 is RFC 8705's x5t#S256 of the certificate:
// base64url(SHA-256(DER)), for certificate-bound tokens (cnf).
func ThumbprintS256(c *x509.Certificate) string {
	s := sha256.Sum256(c.Raw)
	return base64.RawURLEncoding.EncodeToString(s[:])
}

// SubjectDN and IssuerDN render a certificate's names as Bindings
// expects them.
func SubjectDN(c *x509.Certificate) string { return c.Subject.String() }

// IssuerDN: see SubjectDN.
func IssuerDN(c *x509.Certificate) string { return c.Issuer.String() }

const stage = "verify"

// Trace checks.
const (
	ckPresent = "mtls.certificate"
	ckCache   = "mtls.cache"
	ckChain   = "mtls.chain"
	ckTime    = "mtls.validity"
	ckBinding = "mtls.binding"
)

// Verify implements credential.Verifier.
func (v *Verifier) Verify(in *credential.Input) (credential.Identity, *reason.Error) {
	t := in.Trace
	r := in.Request
	switch {
	case r == nil || r.TLS == nil:
		d := "No client certificate: the request did not arrive over TLS, so none could be presented. This route requires one."
		t.Fail(stage, ckPresent, d)
		return credential.Identity{}, reason.New(CodeMissing, d)
	case len(r.TLS.PeerCertificates) == 0:
		d := "The TLS connection presented no client certificate; this route requires one (curl: --cert client.pem --key client.key). A client may also withhold a certificate that is not from a CA the gateway advertises."
		t.Fail(stage, ckPresent, d)
		return credential.Identity{}, reason.New(CodeMissing, d)
	}
	certs := r.TLS.PeerCertificates
	leaf := certs[0]
	sum := sha256.Sum256(leaf.Raw)
	if v.cache != nil {
		if e, ok := v.cache.Get(sum); ok {
			if e.trust == v.o.Trust && !in.Now.Before(e.notBefore) && in.Now.Before(e.notAfter) {
				t.Pass(stage, ckCache, e.summary)
				return v.bind(in, e)
			}
			v.cache.Remove(sum)
		}
	}
	e, rerr := v.verify(in, certs, sum)
	if rerr != nil {
		return credential.Identity{}, rerr
	}
	if v.cache != nil {
		v.cache.Put(sum, e)
	}
	return v.bind(in, e)
}

// verify checks the chain of a leaf not seen (or no longer valid) in the
// cache.
func (v *Verifier) verify(in *credential.Input, certs []*x509.Certificate, sum [32]byte) (*verified, *reason.Error) {
	t := in.Trace
	leaf := certs[0]
	t.Pass(stage, ckPresent, "subject "+quote(SubjectDN(leaf))+", issuer "+quote(IssuerDN(leaf)))
	tr := v.o.Trust
	if tr == nil {
		d := "The client certificate was issued by " + quote(IssuerDN(leaf)) + "; this gateway trusts no client CA."
		t.Fail(stage, ckChain, d)
		return nil, &reason.Error{Code: CodeUntrusted, Detail: d, Debug: "mtls: no Trust configured (Options.Trust is nil)"}
	}
	opts := x509.VerifyOptions{Roots: tr.pool, CurrentTime: in.Now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if len(certs) > 1 {
		opts.Intermediates = x509.NewCertPool()
		for _, c := range certs[1:] {
			opts.Intermediates.AddCert(c)
		}
	}
	chains, err := leaf.Verify(opts)
	if err != nil {
		return nil, v.explain(in, certs, opts, err)
	}
	chain := chains[0]
	e := &verified{trust: tr, notBefore: leaf.NotBefore, notAfter: leaf.NotAfter, leafNotAfter: leaf.NotAfter,
		issuer: IssuerDN(leaf), subject: SubjectDN(leaf), fp: hex.EncodeToString(sum[:])}
	for _, c := range chain[1:] {
		if c.NotBefore.After(e.notBefore) {
			e.notBefore = c.NotBefore
		}
		if c.NotAfter.Before(e.notAfter) {
			e.notAfter = c.NotAfter
		}
	}
	root := chain[len(chain)-1]
	t.Pass(stage, ckChain, "chains to trusted CA "+quote(SubjectDN(root))+" ("+strconv.Itoa(len(chain))+" certificates), clientAuth usage (possession proven by the TLS handshake)")
	t.Pass(stage, ckTime, "valid "+stamp(leaf.NotBefore)+" to "+stamp(leaf.NotAfter)+"; gateway clock "+stamp(in.Now))
	e.summary = "verified earlier (chain not rebuilt): subject " + quote(e.subject) + ", CA " + quote(SubjectDN(root)) + ", valid until " + stamp(e.notAfter)
	return e, nil
}

// explain turns a crypto/x509 verification error into the reason the
// caller can act on.
func (v *Verifier) explain(in *credential.Input, certs []*x509.Certificate, opts x509.VerifyOptions, err error) *reason.Error {
	t := in.Trace
	tr := v.o.Trust
	leaf := certs[0]
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) && inv.Reason == x509.Expired {
		// Judge trust at a moment inside the leaf's validity: an untrusted
		// certificate is untrusted whatever its dates.
		at := opts
		at.CurrentTime = within(leaf, in.Now)
		if _, terr := leaf.Verify(at); terr != nil {
			var inv2 x509.CertificateInvalidError
			if !errors.As(terr, &inv2) || inv2.Reason != x509.Expired {
				return v.explain(in, certs, at, terr)
			}
		}
		c := inv.Cert
		if c == nil {
			c = leaf
		}
		return expired(in, leaf, c)
	}
	issuer := IssuerDN(leaf)
	var d, debug string
	var ua x509.UnknownAuthorityError
	switch {
	case errors.As(err, &ua):
		// crypto/x509 skips a CA outside its validity while building
		// chains and then reports an unknown authority: find it.
		if ca := expiredCA(leaf, append(certs[1:len(certs):len(certs)], tr.certs...), in.Now); ca != nil {
			return expired(in, leaf, ca)
		}
		switch {
		case bytes.Equal(leaf.RawIssuer, leaf.RawSubject) && leaf.CheckSignature(leaf.SignatureAlgorithm, leaf.RawTBSCertificate, leaf.Signature) == nil:
			d = "The client certificate " + quote(SubjectDN(leaf)) + " is self-signed; this gateway accepts only certificates issued by its client CAs."
		case tr.names[issuer]:
			d = "The client certificate names " + quote(issuer) + " as its issuer, a CA this gateway trusts, but that CA's key did not sign it (was the CA re-created, or the certificate issued by another CA of the same name?)."
		default:
			d = "The client certificate was issued by " + quote(issuer) + ", which is not a CA this gateway trusts (if it is an intermediate CA under a trusted one, send it after the certificate: curl --cert takes a PEM file with both)."
		}
	case errors.As(err, &inv):
		switch inv.Reason {
		case x509.IncompatibleUsage:
			d = "The client certificate " + quote(SubjectDN(leaf)) + " may not be used for client authentication (extended key usage: " + usages(leaf) + "); it needs clientAuth."
		case x509.NotAuthorizedToSign:
			name := "in the chain"
			if inv.Cert != nil {
				name = quote(SubjectDN(inv.Cert)) + " in the chain"
			}
			d = "The certificate " + name + " signed another certificate but is not a CA certificate."
		default:
			d = "The client certificate's chain is invalid: " + err.Error() + "."
		}
	default:
		d = "The client certificate could not be verified: " + err.Error() + "."
	}
	debug = "trusted client CAs: " + tr.list
	t.Fail(stage, ckChain, d)
	t.Private(stage, ckChain, domain.OutcomeFail, debug)
	return &reason.Error{Code: CodeUntrusted, Detail: d, Debug: debug, Err: err}
}

// expired is the answer for a certificate c of leaf's chain outside its
// validity.
func expired(in *credential.Input, leaf, c *x509.Certificate) *reason.Error {
	what := "The client certificate " + quote(SubjectDN(leaf))
	if c != leaf {
		what = "The CA certificate " + quote(SubjectDN(c)) + " in the client certificate's chain"
	}
	var d string
	if in.Now.Before(c.NotBefore) {
		d = what + " is not valid before " + stamp(c.NotBefore) + "; the gateway's clock says " + stamp(in.Now) +
			", " + ago(c.NotBefore.Sub(in.Now)) + " earlier."
	} else {
		d = what + " expired at " + stamp(c.NotAfter) + "; the gateway's clock says " + stamp(in.Now) +
			", " + ago(in.Now.Sub(c.NotAfter)) + " later."
	}
	in.Trace.Fail(stage, ckTime, d)
	return &reason.Error{Code: CodeExpired, Detail: d}
}

// expiredCA walks up from leaf through cands (by name and signature) and
// returns the first issuer outside its validity at now, if any.
func expiredCA(leaf *x509.Certificate, cands []*x509.Certificate, now time.Time) *x509.Certificate {
	cur := leaf
	for range 8 {
		var parent *x509.Certificate
		for _, c := range cands {
			if c != cur && bytes.Equal(c.RawSubject, cur.RawIssuer) && cur.CheckSignatureFrom(c) == nil {
				parent = c
				break
			}
		}
		if parent == nil {
			return nil
		}
		if now.Before(parent.NotBefore) || now.After(parent.NotAfter) {
			return parent
		}
		if bytes.Equal(parent.RawSubject, parent.RawIssuer) {
			return nil
		}
		cur = parent
	}
	return nil
}

// within returns a moment inside c's validity, as close to now as
// possible.
func within(c *x509.Certificate, now time.Time) time.Time {
	switch {
	case now.Before(c.NotBefore):
		return c.NotBefore
	case !now.Before(c.NotAfter):
		return c.NotAfter.Add(-time.Second)
	}
	return now
}

// bind maps a verified certificate to its consumer.
func (v *Verifier) bind(in *credential.Input, e *verified) (credential.Identity, *reason.Error) {
	t := in.Trace
	bs := v.o.Bindings(in)
	how := "fingerprint"
	b := bs.ByFingerprint(e.fp)
	if b == nil {
		how = "subject"
		b = bs.BySubject(e.issuer, e.subject)
	}
	if b == nil {
		d := "The client certificate is trusted, but no application is bound to it (subject " + quote(e.subject) +
			", issuer " + quote(e.issuer) + ", SHA-256 fingerprint " + e.fp + ")."
		t.Fail(stage, ckBinding, d)
		return credential.Identity{}, &reason.Error{Code: CodeUnmapped, Detail: d, Possession: true,
			Hint: "Ask the operator to bind this certificate (its fingerprint or subject) to your application."}
	}
	exp := &e.leafNotAfter
	if b.ExpiresAt != nil {
		if !in.Now.Before(*b.ExpiresAt) {
			d := "The binding of this client certificate to application '" + b.Consumer.Name + "' expired at " + stamp(*b.ExpiresAt) + "."
			t.Fail(stage, ckBinding, d)
			return credential.Identity{}, &reason.Error{Code: CodeUnmapped, Detail: d, CredentialID: b.CredentialID, Possession: true,
				Hint: "Ask the operator to renew the binding."}
		}
		if b.ExpiresAt.Before(*exp) {
			exp = b.ExpiresAt
		}
	}
	if how == "fingerprint" {
		t.Pass(stage, ckBinding, "bound by fingerprint")
	} else {
		t.Pass(stage, ckBinding, "bound by subject")
	}
	id := credential.Identity{Type: domain.AuthMTLS, CredentialID: b.CredentialID, Consumer: b.Consumer,
		Scopes: b.Scopes, ScopeHeader: b.ScopeHeader, ExpiresAt: exp, IPAllow: b.IPAllow}
	if in.ExpiryWarning > 0 && exp.Sub(in.Now) <= in.ExpiryWarning {
		id.ExpiresHeader = exp.UTC().Format(time.RFC3339)
		t.Pass(stage, ckTime, "expires soon: warning header sent")
	}
	return id, nil
}

// Thumbprint returns the RFC 8705 x5t#S256 of the request's client
// certificate, for checking a certificate-bound token's cnf claim.
func Thumbprint(r *http.Request) (string, bool) {
	if r == nil || r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return "", false
	}
	return ThumbprintS256(r.TLS.PeerCertificates[0]), true
}

func usages(c *x509.Certificate) string {
	if len(c.ExtKeyUsage) == 0 && len(c.UnknownExtKeyUsage) == 0 {
		return "none"
	}
	names := map[x509.ExtKeyUsage]string{x509.ExtKeyUsageServerAuth: "serverAuth", x509.ExtKeyUsageClientAuth: "clientAuth",
		x509.ExtKeyUsageCodeSigning: "codeSigning", x509.ExtKeyUsageEmailProtection: "emailProtection",
		x509.ExtKeyUsageTimeStamping: "timeStamping", x509.ExtKeyUsageOCSPSigning: "OCSPSigning", x509.ExtKeyUsageAny: "any"}
	var out []string
	for _, u := range c.ExtKeyUsage {
		if n, ok := names[u]; ok {
			out = append(out, n)
		} else {
			out = append(out, "usage "+strconv.Itoa(int(u)))
		}
	}
	for _, oid := range c.UnknownExtKeyUsage {
		out = append(out, oid.String())
	}
	return strings.Join(out, ", ")
}

// quote quotes a DN for a detail, bounded (a subject may be long).
func quote(s string) string {
	const max = 200
	if len(s) > max {
		return strconv.Quote(s[:max]) + "…"
	}
	return strconv.Quote(s)
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// ago renders a clock difference with its exact seconds.
func ago(d time.Duration) string {
	s := d.Round(time.Second)
	exact := " (" + strconv.FormatInt(int64(d/time.Second), 10) + " s)"
	if s >= 48*time.Hour {
		return strconv.FormatInt(int64(s/(24*time.Hour)), 10) + " days" + exact
	}
	return s.String() + exact
}
