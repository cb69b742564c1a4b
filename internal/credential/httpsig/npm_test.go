package httpsig

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"gatehouse/internal/credential"
	"gatehouse/internal/credential/httpsig/sigkey"
	"gatehouse/internal/npmtest"
	"gatehouse/internal/reason"
	"gatehouse/internal/snapshot"
	"gatehouse/internal/trace"
)

// TestNPMInterop: requests signed by the npm package
// http-message-signatures (an independent RFC 9421 implementation) are
// sent by node to a real HTTP server running this verifier. The package
// is installed with npm ci from testdata/npm into the git-ignored
// .npm-tests/httpsig/ when missing. Skipped only when node is absent and
// CI is not set; under CI=true a missing node fails.
func TestNPMInterop(t *testing.T) {
	node := npmtest.Node(t, "http-message-signatures interop test")
	modules := npmtest.Install(t, "httpsig", "http-message-signatures")

	// Keys: private halves for node, public halves for the gateway.
	dir := t.TempDir()
	writePEM := func(name string, key any) {
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pubKey := func(alg sigkey.Algorithm, pub any) *sigkey.Key {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		k, err := sigkey.Parse(alg, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	writePEM("ed25519.pem", edPriv)
	writePEM("p256.pem", p256)
	writePEM("p384.pem", p384)
	writePEM("rsa.pem", rsaKey)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	hk, _ := sigkey.NewHMAC(secret)
	mk := func(id string, k *sigkey.Key) *Key { return &Key{ID: id, Verifier: k, Consumer: testConsumer} }
	ring := Keyring{
		"npm-hmac":    mk("npm-hmac", hk),
		"npm-ed25519": mk("npm-ed25519", pubKey("", edPub)),
		"npm-p256":    mk("npm-p256", pubKey("", &p256.PublicKey)),
		"npm-p384":    mk("npm-p384", pubKey("", &p384.PublicKey)),
		"npm-rsa-pss": mk("npm-rsa-pss", pubKey(sigkey.RSAPSSSHA512, &rsaKey.PublicKey)),
		"npm-rsa-v15": mk("npm-rsa-v15", pubKey(sigkey.RSAV15SHA256, &rsaKey.PublicKey)),
	}
	v := &Verifier{Keys: func(*snapshot.Snapshot) Keys { return ring }, Nonces: NewMemoryNonces(0, nil)}
	rules := mustRules(t, Policy{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var tr trace.Trace
		id, rerr := v.VerifyRequest(&credential.Input{Now: time.Now(), Trace: &tr}, r, rules)
		if rerr != nil {
			t.Logf("%s %s: %v", r.Method, r.URL, rerr)
			rerr.Write(w, reason.Render{})
			return
		}
		var body bytes.Buffer
		_, _ = body.ReadFrom(r.Body) // the body is still there to forward
		w.Header().Set("X-Body-Len", itoa(body.Len()))
		_, _ = w.Write([]byte(id.CredentialID))
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "npm", "sign.cjs"))
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules, "TARGET="+srv.URL, "KEYDIR="+dir,
		"HMAC_SECRET="+base64.StdEncoding.EncodeToString(secret))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s\n%s", err, out, stderr.String())
	}
	want := map[string]struct {
		status int
		code   string
	}{
		"hmac-get": {200, ""}, "ed25519-post": {200, ""}, "p256-put": {200, ""}, "p384-get": {200, ""},
		"rsa-pss-get": {200, ""}, "rsa-v15-get": {200, ""}, "query-param": {200, ""}, "no-alg-param": {200, ""},
		"replay-first": {200, ""}, "replay-second": {401, CodeReplayed},
		"tampered-body":      {401, CodeDigestMismatch},
		"created-10-min-ago": {401, CodeExpired},
		"wrong-key":          {401, CodeInvalid},
		"alg-mismatch":       {401, CodeInvalid},
		"unknown-keyid":      {401, CodeInvalid},
		"too-little-covered": {401, CodeInsufficientCoverage},
	}
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		var res struct {
			Name   string `json:"name"`
			Status int    `json:"status"`
			Code   string `json:"code"`
		}
		if err := json.Unmarshal(sc.Bytes(), &res); err != nil {
			t.Fatalf("node output %q: %v", sc.Text(), err)
		}
		w, ok := want[res.Name]
		if !ok {
			t.Errorf("unexpected case %q", res.Name)
			continue
		}
		seen[res.Name] = true
		if res.Status != w.status || res.Code != w.code {
			t.Errorf("%s: %d %q, want %d %q", res.Name, res.Status, res.Code, w.status, w.code)
		}
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("case %s did not run", name)
		}
	}
}

func itoa(n int) string { return string(appendInt(nil, n)) }

func appendInt(b []byte, n int) []byte {
	if n >= 10 {
		b = appendInt(b, n/10)
	}
	return append(b, byte('0'+n%10))
}
