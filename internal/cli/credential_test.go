package cli

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/admin"
	"gatehouse/internal/clock"
	"gatehouse/internal/secrets"
	"gatehouse/internal/store/sqlite"
)

// newSecretsTestEnv is newTestEnv with a master key, so the API can store
// the secrets credentials and issuers carry.
func newSecretsTestEnv(t *testing.T) *testEnv {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	token, err := admin.Bootstrap(ctx, st, "")
	if err != nil {
		t.Fatal(err)
	}
	box, err := secrets.New(bytes.Repeat([]byte{7}, secrets.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	fc := clock.NewFake(t0)
	srv := httptest.NewServer(admin.New(admin.Config{Store: st, Clock: fc, Secrets: box}))
	t.Cleanup(srv.Close)
	return &testEnv{t: t, store: st, clock: fc, url: srv.URL, token: token}
}

// selfSignedPEM returns a client certificate and its SHA-256 fingerprint.
func selfSignedPEM(t *testing.T) ([]byte, string) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "shop"},
		NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(der)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), hex.EncodeToString(sum[:])
}

func TestCredentialCommands(t *testing.T) {
	e := newSecretsTestEnv(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	certPEM, fp := selfSignedPEM(t)
	certFile := write("client.pem", string(certPEM))
	pub, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pubDER, _ := x509.MarshalPKIXPublicKey(&pub.PublicKey)
	pubFile := write("pub.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})))
	const password = "correct horse battery"
	pwFile := write("pw.txt", password+"\n")
	hsSecret := strings.Repeat("h", 40)
	hsFile := write("hs.txt", hsSecret+"\n")
	twoLines := write("two.txt", "a-password\nanother\n")

	e.check(t, []cliCase{
		{desc: "setup tenant", args: []string{"tenant", "create", "--slug", "acme"}},
		{desc: "setup consumer", args: []string{"consumer", "create", "--tenant", "acme", "--name", "shop", "--scopes", "orders:read,orders:write"}},
		{desc: "issuer with an HS256 secret from a file", args: []string{"issuer", "create", "--name", "legacy", "--issuer", "legacy-app",
			"--hs256-secret-file", hsFile, "--audience", "api://orders", "--leeway", "30s"},
			out:    []string{"Trusted issuer legacy.", "HS256 secret:", "set (encrypted)", "Algorithms:", "Algorithms:    HS256", "Leeway:", "30s"},
			notOut: []string{hsSecret}},
		{desc: "issuer by discovery", args: []string{"issuer", "create", "--name", "okta", "--issuer", "https://okta.example.com/",
			"--discovery-url", "https://okta.example.com/.well-known/openid-configuration", "--algorithm", "RS256", "--required-claim", "client_id"},
			out: []string{"Discovery URL:", "Algorithms:", "RS256", "Required claims:", "client_id", "any (aud not checked)"}},
		{desc: "a short HS256 secret: the API's reason", args: []string{"issuer", "create", "--name", "weak", "--issuer", "weak",
			"--hs256-secret-file", write("short.txt", "short\n")}, fail: true, errOut: []string{"hs256_secret has 5 bytes"}, notOut: []string{"short\n"}},
		{desc: "a secret as an argument is refused unechoed", args: []string{"issuer", "create", "--name", "x", "--issuer", "x", hsSecret}, fail: true,
			errOut: []string{"secrets are read from files"}, notOut: []string{hsSecret}},
		{desc: "issuer list", args: []string{"issuer", "list"}, out: []string{"NAME", "KEYS FROM", "legacy", "hs256 secret", "okta", "discovery"}},
		{desc: "issuer get by name", args: []string{"issuer", "get", "okta"}, out: []string{"Issuer:", "https://okta.example.com/"}},

		{desc: "hmac: the generated secret is printed once", args: []string{"credential", "create", "--consumer", "acme/shop", "--type", "hmac",
			"--key-id", "shop-2026", "--scopes", "orders:read", "--expires", "90d"},
			out: []string{"Created hmac credential crd_", "shown once — store it now", "Key id:", "shop-2026", "hmac-sha256",
				"generated, stored encrypted", "Scopes:", "orders:read", "2027-02-18T10:00:00Z (in 90d)"},
			outFunc: func(t *testing.T, out string) {
				var secret string
				for _, l := range strings.Split(out, "\n") {
					if s := strings.TrimSpace(l); strings.HasPrefix(l, "    ") && len(s) == 44 {
						secret = s
					}
				}
				if b, err := base64.StdEncoding.DecodeString(secret); err != nil || len(b) != 32 {
					t.Errorf("no 32-byte base64 secret on its own line:\n%s", out)
				}
			}},
		{desc: "hmac with a public key from a file", args: []string{"credential", "create", "--consumer", "acme/shop", "--type", "hmac",
			"--key-id", "p256", "--public-key-file", pubFile, "-o", "json"}, out: []string{`"algorithm": "ecdsa-p256-sha256"`}, notOut: []string{`"secret"`}},
		{desc: "a duplicate key id: the API names the holder", args: []string{"credential", "create", "--consumer", "acme/shop", "--type", "hmac",
			"--key-id", "shop-2026"}, fail: true, errOut: []string{"409", `key_id "shop-2026" is already bound to live credential crd_`}},
		{desc: "basic: the password from a file, never printed", args: []string{"credential", "create", "--consumer", "acme/shop", "--type", "basic",
			"--username", "shop", "--password-file", pwFile}, out: []string{"Created basic credential", "Username:", "shop"}, notOut: []string{password, "argon2"}},
		{desc: "basic: the password from stdin", args: []string{"credential", "create", "--consumer", "acme/shop", "--type", "basic", "--username", "shop2"},
			inv: invocation{stdin: "stdin-password-123\n"}, out: []string{"Username:", "shop2"}, notOut: []string{"stdin-password-123"}},
		{desc: "basic: no password at all", args: []string{"credential", "create", "--consumer", "acme/shop", "--type", "basic", "--username", "shop3"},
			fail: true, errOut: []string{"stdin is empty: put the password in it"}},
		{desc: "basic: two lines are refused", args: []string{"credential", "create", "--consumer", "acme/shop", "--type", "basic", "--username", "shop3",
			"--password-file", twoLines}, fail: true, errOut: []string{"more than one line"}, notOut: []string{"a-password"}},
		{desc: "a password as an argument is refused unechoed", args: []string{"credential", "create", "--consumer", "acme/shop", "--type", "basic",
			"--username", "shop3", "hunter22hunter22"}, fail: true, errOut: []string{"never arguments"}, notOut: []string{"hunter22"}},
		{desc: "--password-file with another type", args: []string{"credential", "create", "--consumer", "acme/shop", "--type", "mtls",
			"--subject", "CN=x", "--password-file", pwFile}, fail: true, errOut: []string{"--password-file is for --type basic"}},
		{desc: "mtls from a certificate file: its fingerprint", args: []string{"credential", "create", "--consumer", "acme/shop", "--type", "mtls",
			"--cert-file", certFile}, out: []string{"Fingerprint:", fp}},
		{desc: "a certificate file without a certificate", args: []string{"credential", "create", "--consumer", "acme/shop", "--type", "mtls",
			"--cert-file", pubFile}, fail: true, errOut: []string{"no PEM CERTIFICATE block"}},
		{desc: "jwt binding on a named claim", args: []string{"credential", "create", "--consumer", "acme/shop", "--type", "jwt_binding",
			"--issuer", "okta", "--claim", "client_id", "--value", "shop-backend"}, out: []string{"Claim:", "client_id", "Value:", "shop-backend"}},
		{desc: "the API's validation reaches the user", args: []string{"credential", "create", "--consumer", "acme/shop", "--type", "jwt_binding",
			"--subject", "x"}, fail: true, errOut: []string{"400 admin.invalid", "issuer is required"}},
		{desc: "list", args: []string{"credential", "list", "--consumer", "acme/shop"},
			out:    []string{"IDENTIFIES BY", "keyid shop-2026 (hmac-sha256)", "user shop", "sha256 " + fp[:16], "client_id=shop-backend"},
			notOut: []string{password, "gs1:"}},
		{desc: "list by type", args: []string{"credential", "list", "--type", "basic", "-o", "json"}, out: []string{`"username": "shop"`},
			notOut: []string{`"key_id"`, password}},
		{desc: "revoke needs a reason", args: []string{"credential", "revoke", "crd_x"}, fail: true, errOut: []string{"missing required flag --reason"}},
		{desc: "the issuer in use cannot be deleted", args: []string{"issuer", "delete", "okta"}, fail: true,
			errOut: []string{"409", "live jwt binding(s) crd_"}},
		{desc: "an unused issuer is deleted", args: []string{"issuer", "delete", "legacy"}, out: []string{"Issuer legacy deleted"}},
	})

	var listed struct {
		Items []struct{ ID, Type string } `json:"items"`
	}
	e.mustJSON(&listed, "credential", "list", "--type", "jwt_binding")
	if len(listed.Items) != 1 {
		t.Fatalf("jwt bindings: %+v", listed)
	}
	id := listed.Items[0].ID
	e.check(t, []cliCase{
		{desc: "revoke", args: []string{"credential", "revoke", id, "--reason", "moved to mtls"},
			out: []string{"Credential " + id + " revoked.", "State:", "revoked", "moved to mtls"}},
		{desc: "get", args: []string{"credential", "get", id}, out: []string{"revoked"}},
		{desc: "now the issuer can go", args: []string{"issuer", "delete", "okta"}, out: []string{"Issuer okta deleted"}},
		{desc: "the groups list their verbs", args: []string{"credential", "frob"}, fail: true, errOut: []string{"(verbs: create, get, list, revoke)"}},
		{desc: "issuer verbs", args: []string{"issuer", "frob"}, fail: true, errOut: []string{"(verbs: create, delete, get, list)"}},
	})
}
