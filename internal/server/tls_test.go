package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/credential/mtls"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: t0.Add(-24 * time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{cert: c, key: k, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue signs a leaf; server leaves get 127.0.0.1 as SAN.
func (ca *testCA) issue(t *testing.T, cn string, server bool, notAfter time.Time) tls.Certificate {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: t0.Add(-time.Hour), NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature}
	if server {
		tpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tpl.NotBefore, tpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	} else {
		tpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tpl, ca.cert, &k.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k, Leaf: leaf}
}

func writePEM(t *testing.T, dir, name string, c tls.Certificate) (string, string) {
	t.Helper()
	cp, kp := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	kb, _ := x509.MarshalECPrivateKey(c.PrivateKey.(*ecdsa.PrivateKey))
	os.WriteFile(cp, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Certificate[0]}), 0o600)
	os.WriteFile(kp, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return cp, kp
}

// Client certificates over the TLS proxy listener, bound to a consumer by
// fingerprint through the admin API; and Basic credentials.
func TestMTLSAndBasicRoutes(t *testing.T) {
	dir := t.TempDir()
	clientCA, serverCA, rogue := newCA(t, "clients"), newCA(t, "server"), newCA(t, "rogue")
	srvCert := serverCA.issue(t, "gateway", true, time.Time{})
	cf, kf := writePEM(t, dir, "server", srvCert)
	caFile := filepath.Join(dir, "clients.pem")
	os.WriteFile(caFile, clientCA.pem, 0o600)
	h := newHarness(t, func(c *config.Config) { c.TLS = config.TLS{CertFile: cf, KeyFile: kf, ClientCAFile: caFile} })
	h.proxy = "https://" + h.srv.ProxyAddr()
	w := h.newWorld("acme", nil, nil)
	h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{"/mtls"}, "auth": []string{"mtls"}})
	h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{"/basic"}, "auth": []string{"basic"}})
	good := clientCA.issue(t, "billing", false, t0.Add(12*time.Hour))
	unmapped := clientCA.issue(t, "nobody", false, t0.Add(12*time.Hour))
	expired := clientCA.issue(t, "old", false, t0.Add(-time.Minute))
	untrusted := rogue.issue(t, "billing", false, t0.Add(12*time.Hour))
	h.mustAdmin("POST", "/admin/v1/credentials", map[string]any{"consumer": w.consumer, "type": "mtls", "fingerprint_sha256": mtls.Fingerprint(good.Leaf)})
	h.mustAdmin("POST", "/admin/v1/credentials", map[string]any{"consumer": w.consumer, "type": "mtls", "fingerprint_sha256": mtls.Fingerprint(expired.Leaf)})
	h.mustAdmin("POST", "/admin/v1/credentials", map[string]any{"consumer": w.consumer, "type": "basic", "username": "billing", "password": "correct horse battery"})

	roots := x509.NewCertPool()
	roots.AddCert(serverCA.cert)
	client := func(certs ...tls.Certificate) *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}}}
	}
	cases := []struct {
		desc       string
		client     *http.Client
		path       string
		user, pass string
		wantStatus int
		wantCode   string
	}{
		{"bound certificate", client(good), "/mtls/x", "", "", 200, ""},
		{"no certificate", client(), "/mtls/x", "", "", 401, "mtls.certificate_missing"},
		{"trusted but unbound", client(unmapped), "/mtls/x", "", "", 403, "mtls.certificate_unmapped"},
		{"expired", client(expired), "/mtls/x", "", "", 401, "mtls.certificate_expired"},
		{"untrusted CA", client(untrusted), "/mtls/x", "", "", 401, "mtls.certificate_untrusted"},
		{"basic, right password", client(), "/basic/x", "billing", "correct horse battery", 200, ""},
		{"basic, wrong password", client(), "/basic/x", "billing", "wrong", 401, "basic.invalid_credentials"},
		{"basic, unknown user", client(), "/basic/x", "nobody", "x", 401, "basic.invalid_credentials"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			h.client = tc.client
			req := []string{}
			if tc.user != "" {
				r, _ := http.NewRequest("GET", "http://x", nil)
				r.SetBasicAuth(tc.user, tc.pass)
				req = []string{"Authorization", r.Header.Get("Authorization")}
			}
			r := h.call("GET", tc.path, req...)
			if r.status != tc.wantStatus || (tc.wantCode != "" && r.body["code"] != tc.wantCode) {
				t.Fatalf("%d %s", r.status, r.raw)
			}
		})
	}
	h.client = &http.Client{Timeout: 10 * time.Second}
}

// TestConsoleCookiesFollowTheirOwnListener: the console on the plain-HTTP
// admin listener of a gateway whose proxy listener has TLS sets cookies
// its browser sends back (not Secure: they were, and login over that
// listener failed); secure_cookies marks them Secure behind a
// TLS-terminating proxy.
func TestConsoleCookiesFollowTheirOwnListener(t *testing.T) {
	dir := t.TempDir()
	cf, kf := writePEM(t, dir, "server", newCA(t, "server").issue(t, "gateway", true, time.Time{}))
	for _, tc := range []struct {
		desc   string
		cfg    func(c *config.Config)
		secure bool
	}{
		{"proxy listener on TLS, console on plain HTTP", func(c *config.Config) { c.TLS = config.TLS{CertFile: cf, KeyFile: kf} }, false},
		{"secure_cookies behind a TLS-terminating proxy", func(c *config.Config) { c.SecureCookies = true }, true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			h := newHarness(t, tc.cfg)
			resp, err := http.Get(h.admin + "/console/login")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			cookies := resp.Cookies()
			if len(cookies) == 0 {
				t.Fatalf("no cookie set by the login page: %v", resp.Header)
			}
			for _, c := range cookies {
				if c.Secure != tc.secure {
					t.Errorf("cookie %s Secure=%v, want %v", c.Name, c.Secure, tc.secure)
				}
			}
		})
	}
}
