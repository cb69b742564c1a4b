package mtls

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/reason"
	"gatehouse/internal/testenv"
)

// world is one PKI: the trusted root and intermediate, a rogue root, and
// the client certificates of every scenario.
type world struct {
	trust    *Trust
	bindings bindingMap
	certs    map[string]*issued
}

func newWorld(t testing.TB) *world {
	t.Helper()
	root := newRoot(t, "Gatehouse Test Root CA", certOpts{org: "Acme"})
	inter := root.intermediate(t, "Gatehouse Test Issuing CA", certOpts{})
	oldInter := root.intermediate(t, "Gatehouse Retired Issuing CA", certOpts{notAfter: t0.Add(-48 * time.Hour), notBefore: t0.Add(-400 * 24 * time.Hour)})
	rogue := newRoot(t, "Rogue CA", certOpts{})
	twin := newRoot(t, "Gatehouse Test Root CA", certOpts{org: "Acme"}) // same name, another key
	trust, err := NewTrust(root.pem)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{trust: trust, certs: map[string]*issued{
		"good":          root.client(t, certOpts{cn: "billing-service"}),
		"by-subject":    inter.client(t, certOpts{cn: "reports", org: "Acme"}, inter),
		"no-chain":      inter.client(t, certOpts{cn: "reports-nochain"}),
		"untrusted":     rogue.client(t, certOpts{cn: "intruder"}),
		"self-signed":   create(t, certOpts{cn: "selfie", selfSigned: true, eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, nil),
		"twin-ca":       twin.client(t, certOpts{cn: "twin"}),
		"expired":       root.client(t, certOpts{cn: "old-job", notBefore: t0.Add(-400 * 24 * time.Hour), notAfter: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)}),
		"not-yet":       root.client(t, certOpts{cn: "future-job", notBefore: t0.Add(2 * time.Hour)}),
		"expired-rogue": rogue.client(t, certOpts{cn: "old-intruder", notAfter: t0.Add(-time.Hour)}),
		"expired-inter": oldInter.client(t, certOpts{cn: "orphan", notBefore: t0.Add(-300 * 24 * time.Hour)}, oldInter),
		"server-eku":    root.client(t, certOpts{cn: "web", eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}),
		"unmapped":      root.client(t, certOpts{cn: "nobody-knows-me"}),
	}}
	w.bindings = bindingMap{
		byFP: map[string]*Binding{
			Fingerprint(w.certs["good"].cert):    {CredentialID: "cr_fp", Consumer: shop},
			Fingerprint(w.certs["expired"].cert): {CredentialID: "cr_old", Consumer: shop},
			Fingerprint(w.certs["not-yet"].cert): {CredentialID: "cr_future", Consumer: shop},
		},
		bySubject: map[string]*Binding{
			"CN=reports,O=Acme": {CredentialID: "cr_subject", Consumer: shop},
		},
	}
	return w
}

type scenario struct {
	desc   string
	cert   string // key in world.certs; "" presents none
	status int
	code   string // "" = allowed
	cred   string
	detail []string // substrings of the caller's detail
}

func scenarios() []scenario {
	return []scenario{
		{desc: "good certificate bound by fingerprint", cert: "good", status: 200, cred: "cr_fp"},
		{desc: "good certificate via an intermediate, bound by subject", cert: "by-subject", status: 200, cred: "cr_subject"},
		{desc: "no certificate", cert: "", status: 401, code: CodeMissing, detail: []string{"presented no client certificate"}},
		{desc: "untrusted CA", cert: "untrusted", status: 401, code: CodeUntrusted,
			detail: []string{`issued by "CN=Rogue CA", which is not a CA this gateway trusts`}},
		{desc: "self-signed", cert: "self-signed", status: 401, code: CodeUntrusted, detail: []string{`"CN=selfie" is self-signed`}},
		{desc: "a CA with a trusted CA's name but another key", cert: "twin-ca", status: 401, code: CodeUntrusted,
			detail: []string{`names "CN=Gatehouse Test Root CA,O=Acme" as its issuer, a CA this gateway trusts, but that CA's key did not sign it`}},
		{desc: "intermediate not sent", cert: "no-chain", status: 401, code: CodeUntrusted,
			detail: []string{`issued by "CN=Gatehouse Test Issuing CA"`, "send it after the certificate"}},
		{desc: "expired", cert: "expired", status: 401, code: CodeExpired,
			detail: []string{`"CN=old-job" expired at 2026-02-01T00:00:00Z`, "the gateway's clock says 2026-03-01T12:00:00Z", "28 days (2462400 s) later"}},
		{desc: "not yet valid", cert: "not-yet", status: 401, code: CodeExpired,
			detail: []string{"is not valid before 2026-03-01T14:00:00Z", "2h0m0s (7200 s) earlier"}},
		{desc: "expired and untrusted: untrusted wins", cert: "expired-rogue", status: 401, code: CodeUntrusted, detail: []string{"Rogue CA"}},
		{desc: "expired intermediate", cert: "expired-inter", status: 401, code: CodeExpired,
			detail: []string{`The CA certificate "CN=Gatehouse Retired Issuing CA" in the client certificate's chain expired at 2026-02-27T12:00:00Z`}},
		{desc: "serverAuth-only certificate", cert: "server-eku", status: 401, code: CodeUntrusted,
			detail: []string{"may not be used for client authentication (extended key usage: serverAuth)"}},
		{desc: "trusted but bound to no application", cert: "unmapped", status: 403, code: CodeUnmapped,
			detail: []string{`subject "CN=nobody-knows-me"`, "SHA-256 fingerprint "}},
	}
}

func check(t *testing.T, w *world, sc scenario, a answer) {
	t.Helper()
	if a.Status != sc.status || a.Code != sc.code || a.Credential != sc.cred {
		t.Fatalf("got %d %q cred %q (%s), want %d %q cred %q", a.Status, a.Code, a.Credential, a.Detail, sc.status, sc.code, sc.cred)
	}
	for _, d := range sc.detail {
		if !strings.Contains(a.Detail, d) {
			t.Fatalf("detail %q lacks %q", a.Detail, d)
		}
	}
	if sc.code == CodeUnmapped && !strings.Contains(a.Detail, Fingerprint(w.certs[sc.cert].cert)) {
		t.Fatalf("unmapped detail %q lacks the fingerprint", a.Detail)
	}
	if sc.code != "" {
		e := &reason.Error{Code: sc.code}
		if _, ok := reason.Lookup(sc.code); !ok || e.Entry().Status != sc.status {
			t.Fatalf("%s is not catalogued with status %d", sc.code, sc.status)
		}
	}
}

// TestGoClient: every scenario over a real TLS connection from a Go
// client presenting the certificate with crypto/tls.
func TestGoClient(t *testing.T) {
	w := newWorld(t)
	g := newGateway(t, w.trust, w.bindings, Options{})
	for _, sc := range scenarios() {
		t.Run(sc.desc, func(t *testing.T) {
			var cert *issued
			if sc.cert != "" {
				cert = w.certs[sc.cert]
			}
			check(t, w, sc, g.goClient(t, cert))
		})
	}
}

// TestCurl: the same scenarios from curl --cert/--key/--cacert (OpenSSL's
// TLS stack, PEM files as an operator would have them).
func TestCurl(t *testing.T) {
	curl := testenv.Program(t, "curl")
	w := newWorld(t)
	g := newGateway(t, w.trust, w.bindings, Options{})
	serverCA := g.serverCAFile(t)
	dir := t.TempDir()
	for _, sc := range scenarios() {
		t.Run(sc.desc, func(t *testing.T) {
			args := []string{"-sS", "--cacert", serverCA, "-o", "-", "-w", "\n%{http_code}"}
			if sc.cert != "" {
				c := w.certs[sc.cert]
				cp := filepath.Join(dir, sc.cert+".pem")
				kp := filepath.Join(dir, sc.cert+".key")
				if err := errors.Join(os.WriteFile(cp, c.certPEM, 0o600), os.WriteFile(kp, c.keyPEM, 0o600)); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--cert", cp, "--key", kp)
			}
			args = append(args, g.srv.URL+"/v1/things")
			var out, stderr bytes.Buffer
			cmd := exec.Command(curl, args...)
			cmd.Stdout, cmd.Stderr = &out, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("curl: %v: %s", err, stderr.String())
			}
			o := out.String()
			i := strings.LastIndexByte(o, '\n')
			if i < 0 {
				t.Fatalf("curl output %q", o)
			}
			body, code := o[:i], o[i+1:]
			var a answer
			if err := json.Unmarshal([]byte(body), &a); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			var err error
			if a.Status, err = strconv.Atoi(code); err != nil {
				t.Fatal(err)
			}
			check(t, w, sc, a)
		})
	}
}

// TestCache: a verified leaf is not re-verified while its chain is valid;
// the cache does not outlive the certificate, a change of the trusted
// bundle, or a removed binding.
func TestCache(t *testing.T) {
	w := newWorld(t)
	good := w.certs["good"]
	cases := []struct {
		desc  string
		after func(g *gateway, b bindingMap)
		code  string
		steps string // a step the second request's trace has
	}{
		{desc: "second request answered from the cache", steps: "mtls.cache pass"},
		{desc: "past the certificate's notAfter: verified again, expired", code: CodeExpired,
			after: func(g *gateway, _ bindingMap) { g.clock.Set(good.cert.NotAfter.Add(time.Second)) }, steps: "mtls.validity fail"},
		{desc: "binding removed: unmapped at once", code: CodeUnmapped,
			after: func(_ *gateway, b bindingMap) { delete(b.byFP, Fingerprint(good.cert)) }, steps: "mtls.cache pass"},
		{desc: "trusted bundle replaced: verified again, untrusted", code: CodeUntrusted,
			after: func(g *gateway, _ bindingMap) {
				other, err := NewTrust(newRoot(t, "Another Root", certOpts{}).pem)
				if err != nil {
					t.Fatal(err)
				}
				g.v.o.Trust = other
			}, steps: "mtls.chain fail"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			b := bindingMap{byFP: map[string]*Binding{Fingerprint(good.cert): {CredentialID: "cr_fp", Consumer: shop}}}
			g := newGateway(t, w.trust, b, Options{})
			if a := g.goClient(t, good); a.Status != 200 {
				t.Fatalf("first request: %+v", a)
			}
			if tc.after != nil {
				tc.after(g, b)
			}
			a := g.goClient(t, good)
			if a.Code != tc.code {
				t.Fatalf("second request: %+v, want %q", a, tc.code)
			}
			if !strings.Contains(strings.Join(a.Steps, ","), tc.steps) {
				t.Fatalf("steps %v lack %q", a.Steps, tc.steps)
			}
		})
	}
}

func TestNewTrust(t *testing.T) {
	root := newRoot(t, "Root", certOpts{})
	leaf := root.client(t, certOpts{cn: "leaf"})
	cases := []struct {
		desc string
		pem  string
		err  string
	}{
		{desc: "one CA", pem: string(root.pem)},
		{desc: "empty", pem: "", err: "no PEM certificate"},
		{desc: "a key, not a certificate", pem: string(leaf.keyPEM), err: `"PRIVATE KEY", not CERTIFICATE`},
		{desc: "a leaf, not a CA", pem: string(leaf.certPEM), err: "is not a CA certificate"},
		{desc: "trailing garbage", pem: string(root.pem) + "junk\n", err: "not PEM"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			cfg, tr, err := TLSConfig([]byte(tc.pem))
			if tc.err == "" {
				if err != nil || tr.Trusted() != "CN=Root" || cfg.ClientAuth.String() != "RequestClientCert" || cfg.ClientCAs != nil {
					t.Fatalf("%v %v", err, cfg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err %v, want %q", err, tc.err)
			}
		})
	}
}

// TestNoTLS: a request that did not come over TLS cannot carry a
// certificate.
func TestNoTLS(t *testing.T) {
	w := newWorld(t)
	v := New(Options{Trust: w.trust})
	in := newInput(nil)
	_, rerr := v.Verify(in)
	if rerr == nil || rerr.Code != CodeMissing || !strings.Contains(rerr.Detail, "did not arrive over TLS") {
		t.Fatalf("%v", rerr)
	}
}

func TestIdentity(t *testing.T) {
	w := newWorld(t)
	good := w.certs["good"]
	soon := t0.Add(time.Hour)
	past := t0.Add(-time.Hour)
	cases := []struct {
		desc    string
		binding Binding
		warn    time.Duration
		code    string
		expires time.Time
		header  string
	}{
		{desc: "expiry is the certificate's", expires: good.cert.NotAfter},
		{desc: "a binding expiring earlier wins", binding: Binding{ExpiresAt: &soon}, expires: soon},
		{desc: "warning header within the window", binding: Binding{ExpiresAt: &soon}, warn: 2 * time.Hour, expires: soon, header: "2026-03-01T13:00:00Z"},
		{desc: "expired binding", binding: Binding{ExpiresAt: &past}, code: CodeUnmapped},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			b := tc.binding
			b.CredentialID, b.Consumer, b.Scopes, b.ScopeHeader = "cr_fp", shop, []string{"read"}, "read"
			v := New(Options{Trust: w.trust, Bindings: constBindings(bindingMap{byFP: map[string]*Binding{Fingerprint(good.cert): &b}})})
			in := newInput(good)
			in.ExpiryWarning = tc.warn
			id, rerr := v.Verify(in)
			if tc.code != "" {
				if rerr == nil || rerr.Code != tc.code || !rerr.Possession {
					t.Fatalf("%v", rerr)
				}
				return
			}
			if rerr != nil {
				t.Fatal(rerr)
			}
			if id.CredentialID != "cr_fp" || id.Consumer != shop || id.ScopeHeader != "read" || !id.ExpiresAt.Equal(tc.expires) || id.ExpiresHeader != tc.header {
				t.Fatalf("identity %+v", id)
			}
		})
	}
}

func TestThumbprint(t *testing.T) {
	w := newWorld(t)
	c := w.certs["good"]
	r := newInput(c).Request
	got, ok := Thumbprint(r)
	if !ok || len(got) != 43 || strings.ContainsAny(got, "+/=") {
		t.Fatalf("thumbprint %q", got)
	}
	if fp := Fingerprint(c.cert); len(fp) != 64 || strings.ToLower(fp) != fp {
		t.Fatalf("fingerprint %q", fp)
	}
	if _, ok := Thumbprint(newInput(nil).Request); ok {
		t.Fatal("thumbprint without a certificate")
	}
}

// TestAdvertisedCAs shows why TLSConfig leaves ClientCAs empty: when the
// gateway advertises its CAs, a Go client silently withholds a
// certificate from another CA, and the best the gateway can say is
// "missing"; without the hint it sends it and learns it is untrusted.
func TestAdvertisedCAs(t *testing.T) {
	w := newWorld(t)
	cases := []struct {
		desc      string
		advertise bool
		code      string
	}{
		{desc: "advertised: the rogue certificate is withheld", advertise: true, code: CodeMissing},
		{desc: "not advertised (default): it is sent and diagnosed", advertise: false, code: CodeUntrusted},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			g := newGateway(t, w.trust, w.bindings, Options{})
			if tc.advertise {
				g.srv.Close()
				g = newGatewayWith(t, w.trust, w.bindings, func(c *tls.Config) { c.ClientCAs = w.trust.Pool() })
			}
			if a := g.goClient(t, w.certs["untrusted"]); a.Code != tc.code {
				t.Fatalf("%+v, want %s", a, tc.code)
			}
			if a := g.goClient(t, w.certs["good"]); a.Status != 200 {
				t.Fatalf("good certificate: %+v", a)
			}
		})
	}
}
