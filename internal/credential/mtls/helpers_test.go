package mtls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/clock"
	"gatehouse/internal/credential"
	"gatehouse/internal/domain"
	"gatehouse/internal/snapshot"
	"gatehouse/internal/trace"
)

// t0 is the gateway's (fake) clock in these tests; certificates are
// issued around it. crypto/tls does not judge client-certificate dates
// under RequestClientCert, so the handshake works whatever the real date.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

var serial atomic.Int64

// authority is a CA (root or intermediate) that issues test certificates.
type authority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

// issued is a certificate with its key, in the forms the clients need.
type issued struct {
	cert    *x509.Certificate
	chain   []*x509.Certificate // sent after the leaf
	key     *ecdsa.PrivateKey
	tls     tls.Certificate
	certPEM []byte // leaf, then chain
	keyPEM  []byte
}

type certOpts struct {
	cn                  string
	org                 string
	notBefore, notAfter time.Time
	eku                 []x509.ExtKeyUsage
	ca                  bool
	selfSigned          bool
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func create(t testing.TB, o certOpts, parent *authority) *issued {
	t.Helper()
	if o.notBefore.IsZero() {
		o.notBefore = t0.Add(-24 * time.Hour)
	}
	if o.notAfter.IsZero() {
		o.notAfter = t0.Add(365 * 24 * time.Hour)
	}
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial.Add(1)),
		Subject:      pkix.Name{CommonName: o.cn},
		NotBefore:    o.notBefore, NotAfter: o.notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: o.eku,
	}
	if o.org != "" {
		tmpl.Subject.Organization = []string{o.org}
	}
	if o.ca {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	signerCert, signerKey := tmpl, key
	if parent != nil && !o.selfSigned {
		signerCert, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	is := &issued{cert: c, key: key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})}
	is.tls = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: c}
	return is
}

func newRoot(t testing.TB, cn string, o certOpts) *authority {
	t.Helper()
	o.cn, o.ca = cn, true
	is := create(t, o, nil)
	return &authority{cert: is.cert, key: is.key, pem: is.certPEM}
}

// intermediate issues a CA certificate under a.
func (a *authority) intermediate(t testing.TB, cn string, o certOpts) *authority {
	t.Helper()
	o.cn, o.ca = cn, true
	is := create(t, o, a)
	return &authority{cert: is.cert, key: is.key, pem: is.certPEM}
}

// client issues a client certificate; chain is sent after it.
func (a *authority) client(t testing.TB, o certOpts, chain ...*authority) *issued {
	t.Helper()
	if o.eku == nil {
		o.eku = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	is := create(t, o, a)
	for _, c := range chain {
		is.chain = append(is.chain, c.cert)
		is.tls.Certificate = append(is.tls.Certificate, c.cert.Raw)
		is.certPEM = append(is.certPEM, c.pem...)
	}
	return is
}

// bindingMap implements Bindings as the server does over the snapshot.
type bindingMap struct {
	byFP      map[string]*Binding
	bySubject map[string]*Binding // subject DN → binding (any issuer)
}

func (m bindingMap) ByFingerprint(fp string) *Binding { return m.byFP[fp] }
func (m bindingMap) BySubject(_, subject string) *Binding {
	return m.bySubject[subject]
}

var shop = &snapshot.Consumer{Consumer: domain.Consumer{ID: "c_shop", Name: "shop-backend", Status: domain.StatusActive}}

// answer is what the test server reports for one request.
type answer struct {
	Status     int      `json:"-"`
	Code       string   `json:"code"`
	Detail     string   `json:"detail"`
	Credential string   `json:"credential"`
	Steps      []string `json:"steps"`
}

// gateway is a TLS server whose handler runs the verifier the way the
// pipeline does: Present, then Verify with the request and the gateway's
// clock.
type gateway struct {
	srv   *httptest.Server
	v     *Verifier
	clock *clock.Fake
}

func newGateway(t testing.TB, tr *Trust, b Bindings, o Options) *gateway {
	t.Helper()
	return newGatewayOpts(t, tr, b, o, nil)
}

// newGatewayWith is newGateway with an adjusted listener configuration.
func newGatewayWith(t testing.TB, tr *Trust, b Bindings, adjust func(*tls.Config)) *gateway {
	t.Helper()
	return newGatewayOpts(t, tr, b, Options{}, adjust)
}

func newGatewayOpts(t testing.TB, tr *Trust, b Bindings, o Options, adjust func(*tls.Config)) *gateway {
	t.Helper()
	o.Trust = tr
	o.Bindings = func(*credential.Input) Bindings { return b }
	g := &gateway{v: New(o), clock: clock.NewFake(t0)}
	g.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a answer
		tr := &trace.Trace{}
		pres, _ := Present(r)
		id, rerr := g.v.Verify(&credential.Input{Request: r, Presented: pres, Now: g.clock.Now(), Trace: tr})
		a.Status = http.StatusOK
		if rerr != nil {
			a.Status, a.Code, a.Detail, a.Credential = rerr.Entry().Status, rerr.Code, rerr.Detail, rerr.CredentialID
		} else {
			a.Credential = id.CredentialID
		}
		for _, s := range tr.Steps() {
			a.Steps = append(a.Steps, s.Check+" "+s.Outcome)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.Status)
		_ = json.NewEncoder(w).Encode(a)
	}))
	g.srv.TLS = tr.TLSConfig()
	if adjust != nil {
		adjust(g.srv.TLS)
	}
	g.srv.StartTLS()
	t.Cleanup(g.srv.Close)
	return g
}

// goClient calls the gateway with crypto/tls presenting cert (nil: none).
func (g *gateway) goClient(t testing.TB, cert *issued) answer {
	t.Helper()
	tr := g.srv.Client().Transport.(*http.Transport).Clone()
	if cert != nil {
		tr.TLSClientConfig.Certificates = []tls.Certificate{cert.tls}
	}
	c := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	resp, err := c.Get(g.srv.URL + "/v1/things")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a answer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatal(err)
	}
	a.Status = resp.StatusCode
	return a
}

// serverCAFile writes the httptest server's certificate for curl --cacert.
func (g *gateway) serverCAFile(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "server-ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: g.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// newInput is an Input for a request that presented cert over TLS (nil:
// a plain-HTTP request), for tests that need no connection.
func newInput(cert *issued) *credential.Input {
	r := httptest.NewRequest(http.MethodGet, "https://gw.example/v1/things", nil)
	r.TLS = nil
	if cert != nil {
		r.TLS = &tls.ConnectionState{HandshakeComplete: true, PeerCertificates: append([]*x509.Certificate{cert.cert}, cert.chain...)}
	}
	pres, _ := Present(r)
	return &credential.Input{Request: r, Presented: pres, Now: t0, Trace: &trace.Trace{}}
}

func constBindings(b Bindings) func(*credential.Input) Bindings {
	return func(*credential.Input) Bindings { return b }
}
