package httpsig

import (
	"bufio"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/credential"
	"gatehouse/internal/credential/httpsig/sigkey"
	"gatehouse/internal/domain"
	"gatehouse/internal/snapshot"
	"gatehouse/internal/trace"
)

// The RFC 9421 Appendix B.2 test request and response, byte for byte
// (../shared/reference/auth-vectors.md A.1).
const testRequest = "POST /foo?param=Value&Pet=dog HTTP/1.1\r\n" +
	"Host: example.com\r\n" +
	"Date: Tue, 20 Apr 2021 02:07:55 GMT\r\n" +
	"Content-Type: application/json\r\n" +
	"Content-Digest: sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:\r\n" +
	"Content-Length: 18\r\n" +
	"\r\n" +
	`{"hello": "world"}`

const testResponse = "HTTP/1.1 200 OK\r\n" +
	"Date: Tue, 20 Apr 2021 02:07:56 GMT\r\n" +
	"Content-Type: application/json\r\n" +
	"Content-Digest: sha-512=:mEWXIS7MaLRuGgxOBdODa3xqM1XdEvxoYhvlCFJ41QJgJc4GTsPp29l5oGX69wWdXymyU0rjJuahq4l5aGgfLQ==:\r\n" +
	"Content-Length: 23\r\n" +
	"\r\n" +
	`{"message": "good dog"}`

// vectorTime is the vectors' created time.
const vectorCreated = 1618884473

// readRequest parses raw exactly as net/http's server does (the server
// uses the same reader), so r.Host, r.RequestURI and the header map are
// what the proxy listener sees.
func readRequest(t testing.TB, raw string, extra ...string) *http.Request {
	t.Helper()
	head, body, _ := strings.Cut(raw, "\r\n\r\n")
	for _, h := range extra {
		head += "\r\n" + h
	}
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(head + "\r\n\r\n" + body)))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func testdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "rfc9421", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func loadKey(t testing.TB, alg sigkey.Algorithm, name string) *sigkey.Key {
	t.Helper()
	k, err := sigkey.Parse(alg, testdata(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return k
}

var testConsumer = &snapshot.Consumer{Consumer: domain.Consumer{ID: "c_1", Name: "shop", Status: domain.StatusActive}}

// vectorKeys are the B.1 keys, public halves only (as the gateway would
// hold them).
func vectorKeys(t testing.TB) Keyring {
	return Keyring{
		"test-key-rsa-pss":   {ID: "test-key-rsa-pss", Verifier: loadKey(t, sigkey.RSAPSSSHA512, "test-key-rsa-pss.pub.pem"), Consumer: testConsumer},
		"test-key-ecc-p256":  {ID: "test-key-ecc-p256", Verifier: loadKey(t, "", "test-key-ecc-p256.pub.pem"), Consumer: testConsumer},
		"test-key-ed25519":   {ID: "test-key-ed25519", Verifier: loadKey(t, "", "test-key-ed25519.pub.pem"), Consumer: testConsumer},
		"test-shared-secret": {ID: "test-shared-secret", Verifier: loadKey(t, sigkey.HMACSHA256, "test-shared-secret.b64"), Consumer: testConsumer},
	}
}

func mustRules(t testing.TB, p Policy) *Rules {
	t.Helper()
	r, err := p.Compile()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestRFC9421RequestVectors verifies B.2.1, B.2.2, B.2.3, B.2.5 and B.2.6
// end to end through VerifyRequest, and checks the signature base the
// verifier computes against the RFC's, line for line.
func TestRFC9421RequestVectors(t *testing.T) {
	cases := []struct {
		desc, input, sig, base string
		policy                 Policy
	}{
		{
			desc:   "B.2.1 minimal (rsa-pss-sha512, covers nothing, nonce)",
			input:  `sig-b21=();created=1618884473;keyid="test-key-rsa-pss";nonce="b3k2pp5k7z-50gnwp.yemd"`,
			sig:    `sig-b21=:d2pmTvmbncD3xQm8E9ZV2828BjQWGgiwAaw5bAkgibUopemLJcWDy/lkbbHAve4cRAtx31Iq786U7it++wgGxbtRxf8Udx7zFZsckzXaJMkA7ChG52eSkFxykJeNqsrWH5S+oxNFlD4dzVuwe8DhTSja8xxbR/Z2cOGdCbzR72rgFWhzx2VjBqJzsPLMIQKhO4DGezXehhWwE56YCE+O6c0mKZsfxVrogUvA4HELjVKWmAvtl6UnCh8jYzuVG5WSb/QEVPnP5TmcAnLH1g+s++v6d4s8m0gCw1fV5/SITLq9mhho8K3+7EPYTU8IU1bLhdxO5Nyt8C8ssinQ98Xw9Q==:`,
			base:   `"@signature-params": ();created=1618884473;keyid="test-key-rsa-pss";nonce="b3k2pp5k7z-50gnwp.yemd"`,
			policy: Policy{Required: []string{}, BodyDigestOptional: true},
		},
		{
			desc:  "B.2.2 selective (rsa-pss-sha512, @query-param, tag)",
			input: `sig-b22=("@authority" "content-digest" "@query-param";name="Pet");created=1618884473;keyid="test-key-rsa-pss";tag="header-example"`,
			sig:   `sig-b22=:LjbtqUbfmvjj5C5kr1Ugj4PmLYvx9wVjZvD9GsTT4F7GrcQEdJzgI9qHxICagShLRiLMlAJjtq6N4CDfKtjvuJyE5qH7KT8UCMkSowOB4+ECxCmT8rtAmj/0PIXxi0A0nxKyB09RNrCQibbUjsLS/2YyFYXEu4TRJQzRw1rLEuEfY17SARYhpTlaqwZVtR8NV7+4UKkjqpcAoFqWFQh62s7Cl+H2fjBSpqfZUJcsIk4N6wiKYd4je2U/lankenQ99PZfB4jY3I5rSV2DSBVkSFsURIjYErOs0tFTQosMTAoxk//0RoKUqiYY8Bh0aaUEb0rQl3/XaVe4bXTugEjHSw==:`,
			base: `"@authority": example.com
"content-digest": sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:
"@query-param";name="Pet": dog
"@signature-params": ("@authority" "content-digest" "@query-param";name="Pet");created=1618884473;keyid="test-key-rsa-pss";tag="header-example"`,
			policy: Policy{Required: []string{"@authority", `"@query-param";name="Pet"`}, NonceOptional: true, Tag: "header-example"},
		},
		{
			desc:  "B.2.3 full coverage (rsa-pss-sha512)",
			input: `sig-b23=("date" "@method" "@path" "@query" "@authority" "content-type" "content-digest" "content-length");created=1618884473;keyid="test-key-rsa-pss"`,
			sig:   `sig-b23=:bbN8oArOxYoyylQQUU6QYwrTuaxLwjAC9fbY2F6SVWvh0yBiMIRGOnMYwZ/5MR6fb0Kh1rIRASVxFkeGt683+qRpRRU5p2voTp768ZrCUb38K0fUxN0O0iC59DzYx8DFll5GmydPxSmme9v6ULbMFkl+V5B1TP/yPViV7KsLNmvKiLJH1pFkh/aYA2HXXZzNBXmIkoQoLd7YfW91kE9o/CCoC1xMy7JA1ipwvKvfrs65ldmlu9bpG6A9BmzhuzF8Eim5f8ui9eH8LZH896+QIF61ka39VBrohr9iyMUJpvRX2Zbhl5ZJzSRxpJyoEZAFL2FUo5fTIztsDZKEgM4cUA==:`,
			base: `"date": Tue, 20 Apr 2021 02:07:55 GMT
"@method": POST
"@path": /foo
"@query": ?param=Value&Pet=dog
"@authority": example.com
"content-type": application/json
"content-digest": sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:
"content-length": 18
"@signature-params": ("date" "@method" "@path" "@query" "@authority" "content-type" "content-digest" "content-length");created=1618884473;keyid="test-key-rsa-pss"`,
			policy: Policy{NonceOptional: true}, // the default coverage holds
		},
		{
			desc:  "B.2.5 hmac-sha256",
			input: `sig-b25=("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"`,
			sig:   `sig-b25=:pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=:`,
			base: `"date": Tue, 20 Apr 2021 02:07:55 GMT
"@authority": example.com
"content-type": application/json
"@signature-params": ("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"`,
			policy: Policy{Required: []string{"@authority"}, BodyDigestOptional: true, NonceOptional: true},
		},
		{
			desc:  "B.2.6 ed25519",
			input: `sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"`,
			sig:   `sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:`,
			base: `"date": Tue, 20 Apr 2021 02:07:55 GMT
"@method": POST
"@path": /foo
"@authority": example.com
"content-type": application/json
"content-length": 18
"@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"`,
			policy: Policy{BodyDigestOptional: true, NonceOptional: true},
		},
	}
	keys := vectorKeys(t)
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			r := readRequest(t, testRequest, "Signature-Input: "+c.input, "Signature: "+c.sig)
			// The base, computed from the request as the server sees it.
			sigs, err := ParseFields(c.input, c.sig)
			if err != nil {
				t.Fatal(err)
			}
			in, _, err := sigs.Select("")
			if err != nil {
				t.Fatal(err)
			}
			msg := RequestMessage(r, "")
			base, err := in.AppendBase(nil, &msg)
			if err != nil {
				t.Fatal(err)
			}
			if string(base) != c.base {
				t.Fatalf("signature base:\n%s\nwant:\n%s", base, c.base)
			}
			// End to end.
			v := &Verifier{Keys: func(*snapshot.Snapshot) Keys { return keys }, Nonces: NewMemoryNonces(0, nil)}
			var tr trace.Trace
			ci := credential.Input{Now: time.Unix(vectorCreated+30, 0), Trace: &tr}
			id, rerr := v.VerifyRequest(&ci, r, mustRules(t, c.policy))
			if rerr != nil {
				t.Fatalf("rejected: %v\ntrace: %+v", rerr, tr.Steps())
			}
			if id.Consumer != testConsumer || id.Type != domain.AuthHTTPSignature || id.CredentialID != in.KeyID {
				t.Fatalf("identity %+v", id)
			}
		})
	}
}

// TestRFC9421DeterministicResign re-signs the two deterministic vectors
// (hmac-sha256 with the decoded B.1.5 secret, ed25519 with the B.1.4
// private key) over the RFC's base and compares bytes exactly.
func TestRFC9421DeterministicResign(t *testing.T) {
	secret, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(testdata(t, "test-shared-secret.b64"))))
	if err != nil || len(secret) != 64 {
		t.Fatalf("secret: %d bytes, %v", len(secret), err)
	}
	baseB25 := "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n\"@authority\": example.com\n\"content-type\": application/json\n" +
		`"@signature-params": ("date" "@authority" "content-type");created=1618884473;keyid="test-shared-secret"`
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(baseB25))
	if got := base64.StdEncoding.EncodeToString(m.Sum(nil)); got != "pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=" {
		t.Fatalf("B.2.5 HMAC = %s", got)
	}
	// The classic bug: a trailing LF changes the MAC.
	m.Reset()
	m.Write([]byte(baseB25 + "\n"))
	if got := base64.StdEncoding.EncodeToString(m.Sum(nil)); got == "pxcQw6G3AjtMBQjwo8XzkZf/bws5LelbaMk5rGIGtE8=" {
		t.Fatal("a trailing LF must change the MAC")
	}

	priv, err := sigkey.ParsePrivatePEM(testdata(t, "test-key-ed25519.pem"))
	if err != nil {
		t.Fatal(err)
	}
	baseB26 := "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n\"@method\": POST\n\"@path\": /foo\n\"@authority\": example.com\n" +
		"\"content-type\": application/json\n\"content-length\": 18\n" +
		`"@signature-params": ("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519"`
	sig := ed25519.Sign(priv.(ed25519.PrivateKey), []byte(baseB26))
	if got := base64.StdEncoding.EncodeToString(sig); got != "wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==" {
		t.Fatalf("B.2.6 ed25519 = %s", got)
	}
}

// TestRFC9421ResponseVector verifies B.2.4 (ecdsa-p256-sha256 over the
// test response, covering @status) with the low-level API.
func TestRFC9421ResponseVector(t *testing.T) {
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(testResponse)), nil)
	if err != nil {
		t.Fatal(err)
	}
	const input = `sig-b24=("@status" "content-type" "content-digest" "content-length");created=1618884473;keyid="test-key-ecc-p256"`
	const sig = `sig-b24=:wNmSUAhwb5LxtOtOpNa6W5xj067m5hFrj0XQ4fvpaCLx0NKocgPquLgyahnzDnDAUy5eCdlYUEkLIj+32oiasw==:`
	const want = "\"@status\": 200\n\"content-type\": application/json\n" +
		"\"content-digest\": sha-512=:mEWXIS7MaLRuGgxOBdODa3xqM1XdEvxoYhvlCFJ41QJgJc4GTsPp29l5oGX69wWdXymyU0rjJuahq4l5aGgfLQ==:\n" +
		"\"content-length\": 23\n" +
		`"@signature-params": ("@status" "content-type" "content-digest" "content-length");created=1618884473;keyid="test-key-ecc-p256"`
	sigs, err := ParseFields(input, sig)
	if err != nil {
		t.Fatal(err)
	}
	in, sb, err := sigs.Select("sig-b24")
	if err != nil {
		t.Fatal(err)
	}
	msg := ResponseMessage(resp.StatusCode, resp.Header, nil)
	base, err := in.AppendBase(nil, &msg)
	if err != nil {
		t.Fatal(err)
	}
	if string(base) != want {
		t.Fatalf("base:\n%s\nwant:\n%s", base, want)
	}
	key := vectorKeys(t)["test-key-ecc-p256"].Verifier
	if key.Algorithm() != sigkey.ECDSAP256SHA256 {
		t.Fatalf("inferred algorithm %s", key.Algorithm())
	}
	if err := key.Verify(base, sb); err != nil {
		t.Fatalf("B.2.4 does not verify: %v", err)
	}
	// A flipped bit fails, and so does the same signature over the base
	// of the request (@status does not apply to requests).
	bad := append([]byte(nil), sb...)
	bad[10] ^= 1
	if err := key.Verify(base, bad); err == nil {
		t.Fatal("flipped signature verified")
	}
	body, _ := io.ReadAll(resp.Body)
	if err := VerifyContentDigest(resp.Header.Get("Content-Digest"), body); err != nil {
		t.Fatalf("response digest: %v", err)
	}
	req := RequestMessage(readRequest(t, testRequest), "")
	if _, err := in.AppendBase(nil, &req); err == nil || !strings.Contains(err.Error(), "@status applies to responses only") {
		t.Fatalf("@status on a request: %v", err)
	}
}

// TestRSAPSSKeyLoading covers the B.1.2 case: the private key's PKCS#8
// wrapper names id-RSASSA-PSS, which crypto/x509 rejects; the loader
// unwraps it, and its public half equals the published SPKI. An SPKI
// labelled id-RSASSA-PSS loads too, restricted to rsa-pss-sha512.
func TestRSAPSSKeyLoading(t *testing.T) {
	blk, _ := pem.Decode(testdata(t, "test-key-rsa-pss.pem"))
	if _, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
		t.Fatal("crypto/x509 now parses PSS PKCS#8 keys: the special case may be unnecessary")
	}
	priv, err := sigkey.ParsePrivatePEM(testdata(t, "test-key-rsa-pss.pem"))
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	pubBlk, _ := pem.Decode(testdata(t, "test-key-rsa-pss.pub.pem"))
	if string(spki) != string(pubBlk.Bytes) {
		t.Fatal("the B.1.2 private key's public half differs from the published public key")
	}
	// Re-wrap the public key with the id-RSASSA-PSS OID, as OpenSSL
	// does for PSS-restricted keys.
	pssSPKI := rewrapPSS(t, priv.Public())
	k, err := sigkey.Parse("", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pssSPKI}))
	if err != nil {
		t.Fatal(err)
	}
	if k.Algorithm() != sigkey.RSAPSSSHA512 {
		t.Fatalf("PSS SPKI inferred %s", k.Algorithm())
	}
	if _, err := sigkey.Parse(sigkey.RSAV15SHA256, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pssSPKI})); err == nil {
		t.Fatal("a PSS-restricted key must not verify rsa-v1_5-sha256")
	}
	// The private key is refused where a public key is expected.
	if _, err := sigkey.Parse(sigkey.RSAPSSSHA512, testdata(t, "test-key-rsa-pss.pem")); err == nil || !strings.Contains(err.Error(), "private key") {
		t.Fatalf("private key accepted as a public key: %v", err)
	}
}
