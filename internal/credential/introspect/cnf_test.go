package introspect

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"math/big"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/reason"
)

func selfSigned(t *testing.T, cn string) *x509.Certificate {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCertificateBound: RFC 8705 §3.2 — an introspection answer with cnf
// x5t#S256 is good only with the client certificate it names.
func TestCertificateBound(t *testing.T) {
	mine, other := selfSigned(t, "mine"), selfSigned(t, "other")
	s := sha256.Sum256(mine.Raw)
	x5t := base64.RawURLEncoding.EncodeToString(s[:])
	cases := []struct {
		desc   string
		cnf    string // JSON of the cnf member
		cert   *x509.Certificate
		code   string
		detail string
		debug  string
	}{
		{desc: "the bound certificate", cnf: `{"x5t#S256":"` + x5t + `"}`, cert: mine},
		{desc: "no certificate", cnf: `{"x5t#S256":"` + x5t + `"}`, code: CodeInactive, detail: "did not present that certificate"},
		{desc: "another certificate", cnf: `{"x5t#S256":"` + x5t + `"}`, cert: other, code: CodeInactive, detail: "did not present that certificate"},
		{desc: "a DPoP-bound token is not taken as a bearer token", cnf: `{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}`, cert: mine,
			code: CodeInactive, detail: `cnf "jkt"`},
		{desc: "cnf not an object", cnf: `"` + x5t + `"`, cert: mine, code: reason.AuthBackendUnavailable, debug: `"cnf" is a string, not an object`},
		{desc: "x5t#S256 not a string", cnf: `{"x5t#S256":1}`, cert: mine, code: reason.AuthBackendUnavailable, debug: `"x5t#S256" is a number`},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			as, b := world(t)
			as.answerRaw(jsonBody(`{"active":true,"sub":"user-1","cnf":` + tc.cnf + `}`))
			v := newVerifier(b, Options{})
			in := input(tokUser, t0)
			if tc.cert != nil {
				in.Request.TLS = &tls.ConnectionState{HandshakeComplete: true, PeerCertificates: []*x509.Certificate{tc.cert}}
			}
			id, rerr := v.Verify(in)
			if tc.code == "" {
				if rerr != nil || id.Consumer != shop {
					t.Fatalf("%v %+v", rerr, id)
				}
				return
			}
			if rerr == nil || rerr.Code != tc.code || rerr.Possession || !strings.Contains(rerr.Detail, tc.detail) || !strings.Contains(rerr.Debug, tc.debug) {
				t.Fatalf("got %v, want %s with %q / %q", rerr, tc.code, tc.detail, tc.debug)
			}
		})
	}
}
