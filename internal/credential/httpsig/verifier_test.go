package httpsig

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/clock"
	"gatehouse/internal/credential"
	"gatehouse/internal/credential/httpsig/sigkey"
	"gatehouse/internal/domain"
	"gatehouse/internal/reason"
	"gatehouse/internal/snapshot"
	"gatehouse/internal/trace"
)

var (
	testSecret = []byte("0123456789abcdef0123456789abcdef-test-secret")
	testNow    = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
)

func testVerifier(t testing.TB, nonces NonceStore) *Verifier {
	t.Helper()
	hk, err := sigkey.NewHMAC(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	ring := Keyring{"k1": {ID: "k1", CredentialID: "hs_1", Verifier: hk, Consumer: testConsumer, Scopes: []string{"orders:read"}}}
	return &Verifier{Keys: func(*snapshot.Snapshot) Keys { return ring }, Nonces: nonces}
}

func created(d time.Duration) string { return strconv.FormatInt(testNow.Add(d).Unix(), 10) }

// TestVerifyRequest walks every rejection and the main acceptances on
// hmac-sha256 requests parsed as the server parses them.
func TestVerifyRequest(t *testing.T) {
	now := created(0)
	std := `("@method" "@authority" "@path");created=` + now + `;keyid="k1";nonce="n-` // + unique suffix + `"`
	type tc struct {
		desc    string
		method  string
		target  string
		body    string
		headers []string
		inner   string // signed inner list; "" leaves the request unsigned
		label   string
		mutate  func(r *http.Request) // after signing
		base    func([]byte) []byte   // signer bug: base altered before signing
		policy  Policy
		code    string
		detail  []string // substrings of the caller's detail
	}
	cases := []tc{
		{desc: "valid GET", inner: std + `1"`},
		{desc: "valid GET with alg matching the key", inner: `("@method" "@authority" "@path");created=` + now + `;keyid="k1";nonce="n";alg="hmac-sha256"`},
		{desc: "@target-uri satisfies @authority and @path", inner: `("@method" "@target-uri");created=` + now + `;keyid="k1";nonce="n"`},
		{desc: "@request-target satisfies @path", inner: `("@method" "@authority" "@request-target");created=` + now + `;keyid="k1";nonce="n"`},
		{desc: "POST with content-digest covered and matching", method: "POST", body: `{"a":1}`,
			headers: []string{"Content-Digest: " + sha256Digest(`{"a":1}`)},
			inner:   `("@method" "@authority" "@path" "content-digest");created=` + now + `;keyid="k1";nonce="n"`},
		{desc: "no signature", code: CodeMissing, detail: []string{"no Signature-Input and Signature"}},
		{desc: "Signature-Input without Signature", inner: std + `2"`, code: CodeMalformed,
			mutate: func(r *http.Request) { r.Header.Del("Signature") }, detail: []string{"no Signature field"}},
		{desc: "unknown keyid", inner: `("@method" "@authority" "@path");created=` + now + `;keyid="nope";nonce="n"`,
			code: CodeInvalid, detail: []string{`keyid "nope"`, "does not verify"}},
		{desc: "no keyid", inner: `("@method" "@authority" "@path");created=` + now + `;nonce="n"`,
			code: CodeMalformed, detail: []string{"no keyid"}},
		{desc: "flipped signature byte", inner: std + `3"`, code: CodeInvalid, detail: []string{"does not verify"},
			mutate: func(r *http.Request) {
				v := r.Header.Get("Signature")
				i := strings.IndexByte(v, ':') + 3
				c := byte('A')
				if v[i] == 'A' {
					c = 'B'
				}
				r.Header.Set("Signature", v[:i]+string(c)+v[i+1:])
			}},
		{desc: "Date changed after signing", inner: `("date" "@method" "@authority" "@path");created=` + now + `;keyid="k1";nonce="n"`,
			headers: []string{"Date: Tue, 20 Apr 2021 02:07:55 GMT"}, code: CodeInvalid,
			mutate: func(r *http.Request) { r.Header.Set("Date", "Tue, 20 Apr 2021 02:07:56 GMT") }},
		{desc: "path changed after signing", inner: std + `4"`, code: CodeInvalid,
			mutate: func(r *http.Request) { r.RequestURI = "/admin" }},
		{desc: "signer appended a trailing LF to the base", inner: std + `5"`, code: CodeInvalid,
			base: func(b []byte) []byte { return append(b, '\n') }},
		{desc: "label in Signature differs from Signature-Input", inner: std + `6"`, code: CodeMalformed,
			mutate: func(r *http.Request) {
				r.Header.Set("Signature", strings.Replace(r.Header.Get("Signature"), "sig1=", "sig-b25=", 1))
			}, detail: []string{`no label appears in both fields`, `"sig1"`, `"sig-b25"`}},
		{desc: "created 10 minutes ago", inner: `("@method" "@authority" "@path");created=` + created(-10*time.Minute) + `;keyid="k1";nonce="n"`,
			code: CodeExpired, detail: []string{"created 10m0s ago", "at most 5m0s old", "gateway clock 2026-11-20T10:00:00Z"}},
		{desc: "created 2 minutes in the future", inner: `("@method" "@authority" "@path");created=` + created(2*time.Minute) + `;keyid="k1";nonce="n"`,
			code: CodeClockSkew, detail: []string{"created 2m0s in the future", "at most 1m0s of clock skew"}},
		{desc: "created 30 s in the future is within the skew", inner: `("@method" "@authority" "@path");created=` + created(30*time.Second) + `;keyid="k1";nonce="n"`},
		{desc: "expires in the past", inner: `("@method" "@authority" "@path");created=` + created(-3*time.Minute) + `;expires=` + created(-2*time.Minute) + `;keyid="k1";nonce="n"`,
			code: CodeExpired, detail: []string{"expired 2m0s ago"}},
		{desc: "expires before created", inner: std + `14"`, code: CodeMalformed, detail: []string{"expires", "is before created"},
			mutate: func(r *http.Request) {
				r.Header.Set("Signature-Input", `sig1=("@method" "@authority" "@path");created=`+now+`;expires=`+created(-time.Second)+`;keyid="k1";nonce="z"`)
			}},
		{desc: "covers only @method", inner: `("@method");created=` + now + `;keyid="k1";nonce="n"`,
			code: CodeInsufficientCoverage, detail: []string{`does not cover "@authority", "@path"`, `"@path" (or "@target-uri" or "@request-target")`}},
		{desc: "B.2.1-style empty coverage", inner: `();created=` + now + `;keyid="k1";nonce="n"`,
			code: CodeInsufficientCoverage, detail: []string{`"@method", "@authority", "@path"`}},
		{desc: "body without content-digest coverage", method: "POST", body: `{"a":1}`, inner: std + `7"`,
			code: CodeInsufficientCoverage, detail: []string{`"content-digest" (the request has a body)`}},
		{desc: "body with BodyDigestOptional", method: "POST", body: `{"a":1}`, inner: std + `8"`, policy: Policy{BodyDigestOptional: true}},
		{desc: "content-digest mismatch", method: "POST", body: `{"a":2}`,
			headers: []string{"Content-Digest: " + sha256Digest(`{"a":1}`)},
			inner:   `("@method" "@authority" "@path" "content-digest");created=` + now + `;keyid="k1";nonce="n"`,
			code:    CodeDigestMismatch, detail: []string{"the sha-256 of the body is :", "but Content-Digest says :"}},
		{desc: "one of two digests mismatches (RFC 9530 §2's inconsistent pair)", method: "POST", body: "{\"hello\": \"world\"}\n",
			headers: []string{"Content-Digest: sha-256=:d435Qo+nKZ+gLcUHn7GQtQ72hiBVAgqoLsZnZPiTGPk=:, sha-512=:YMAam51Jz/jOATT6/zvHrLVgOYTGFy1d6GJiOHTohq4yP+pgk4vf2aCsyRZOtw8MjkM7iw7yZ/WkppmM44T3qg==:"},
			inner:   `("@method" "@authority" "@path" "content-digest");created=` + now + `;keyid="k1";nonce="n"`,
			code:    CodeDigestMismatch, detail: []string{"sha-256"}},
		{desc: "content-digest with only md5", method: "POST", body: `x`,
			headers: []string{"Content-Digest: md5=:HUXZLQLMuI/KZ5KDcJPcOA==:"},
			inner:   `("@method" "@authority" "@path" "content-digest");created=` + now + `;keyid="k1";nonce="n"`,
			code:    CodeMalformed, detail: []string{"no supported algorithm", "md5 is deprecated"}},
		{desc: "body over the buffer bound", method: "POST", body: strings.Repeat("x", 100),
			headers: []string{"Content-Digest: " + sha256Digest(strings.Repeat("x", 100))},
			inner:   `("@method" "@authority" "@path" "content-digest");created=` + now + `;keyid="k1";nonce="n"`,
			policy:  Policy{MaxBody: 64}, code: reason.RequestTooLarge, detail: []string{"at most 64 bytes"}},
		{desc: "alg differs from the key's algorithm", inner: `("@method" "@authority" "@path");created=` + now + `;keyid="k1";nonce="n";alg="ed25519"`,
			code: CodeInvalid, detail: []string{"does not verify"}},
		{desc: "no nonce", inner: `("@method" "@authority" "@path");created=` + now + `;keyid="k1"`,
			code: CodeInsufficientCoverage, detail: []string{"no nonce"}},
		{desc: "no nonce, nonce optional", inner: `("@method" "@authority" "@path");created=` + now + `;keyid="k1"`, policy: Policy{NonceOptional: true}},
		{desc: "no created", inner: `("@method" "@authority" "@path");keyid="k1";nonce="n"`,
			code: CodeInsufficientCoverage, detail: []string{"no created"}},
		{desc: "no created, created optional", inner: `("@method" "@authority" "@path");keyid="k1";nonce="n"`, policy: Policy{CreatedOptional: true}},
		{desc: "tag required and absent", inner: std + `9"`, policy: Policy{Tag: "gatehouse"},
			code: CodeInsufficientCoverage, detail: []string{`requires tag "gatehouse"`}},
		{desc: "covered field absent from the request", inner: `("@method" "@authority" "@path" "x-missing");created=` + now + `;keyid="k1";nonce="n"`,
			headers: []string{"X-Missing: 1"}, mutate: func(r *http.Request) { r.Header.Del("X-Missing") }, code: CodeInvalid, detail: []string{`component "x-missing": the message has no x-missing field`}},
		{desc: "truncated MAC", inner: std + `10"`, code: CodeInvalid, detail: []string{"does not verify"},
			mutate: func(r *http.Request) {
				r.Header.Set("Signature", "sig1=:"+base64.StdEncoding.EncodeToString(make([]byte, 16))+":")
			}},
		{desc: "base64url signature", inner: std + `11"`, code: CodeMalformed, detail: []string{"base64url"},
			mutate: func(r *http.Request) { r.Header.Set("Signature", "sig1=:ab-_ab-_:") }},
		{desc: "required label absent", inner: std + `12"`, policy: Policy{Label: "gh"}, code: CodeMalformed,
			detail: []string{`no member "gh"`}},
		{desc: "Signature-Input on two lines is one dictionary", inner: std + `13"`,
			mutate: func(r *http.Request) { r.Header.Add("Signature-Input", `other=("@method");keyid="zz"`) }},
	}
	for i, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			method, target := c.method, c.target
			if method == "" {
				method = "GET"
			}
			if target == "" {
				target = "/v1/orders?id=7"
			}
			r := newServerRequest(t, method, target, c.body, c.headers...)
			if c.inner != "" {
				label := c.label
				if label == "" {
					label = "sig1"
				}
				inner := strings.Replace(c.inner, `nonce="n"`, `nonce="n`+strconv.Itoa(i)+`"`, 1)
				hmacSign(t, r, testSecret, label, inner, c.base)
			}
			if c.mutate != nil {
				c.mutate(r)
			}
			v := testVerifier(t, NewMemoryNonces(0, clock.NewFake(testNow)))
			var tr trace.Trace
			in := credential.Input{Now: testNow, Trace: &tr}
			id, rerr := v.VerifyRequest(&in, r, mustRules(t, c.policy))
			if c.code == "" {
				if rerr != nil {
					t.Fatalf("rejected: %v\ntrace: %+v", rerr, tr.Steps())
				}
				if id.CredentialID != "hs_1" || id.Consumer != testConsumer || id.Type != domain.AuthHTTPSignature || id.ScopeHeader != "" || len(id.Scopes) != 1 {
					t.Fatalf("identity %+v", id)
				}
				last := tr.Steps()[tr.Len()-1]
				if last.Check != "sig.replay" || last.Outcome != domain.OutcomePass {
					t.Fatalf("last step %+v", last)
				}
				if c.body != "" {
					got, _ := io.ReadAll(r.Body)
					if string(got) != c.body {
						t.Fatalf("forwardable body %q, want %q", got, c.body)
					}
				}
				return
			}
			if rerr == nil {
				t.Fatalf("accepted, want %s", c.code)
			}
			if rerr.Code != c.code {
				t.Fatalf("code %s (%s), want %s", rerr.Code, rerr.Detail, c.code)
			}
			for _, d := range c.detail {
				if !strings.Contains(rerr.Detail, d) {
					t.Errorf("detail %q lacks %q", rerr.Detail, d)
				}
			}
			if _, ok := reason.Lookup(rerr.Code); !ok {
				t.Errorf("code %s not catalogued", rerr.Code)
			}
			steps := tr.Steps()
			if len(steps) == 0 || steps[len(steps)-1].Outcome == domain.OutcomePass {
				t.Errorf("no failing trace step: %+v", steps)
			}
			assertNoSecret(t, rerr, steps)
		})
	}
}

// assertNoSecret checks that neither the rejection nor any trace step
// (operator-only ones included) carries the HMAC secret.
func assertNoSecret(t *testing.T, rerr *reason.Error, steps []domain.TraceStep) {
	t.Helper()
	forms := []string{string(testSecret), base64.StdEncoding.EncodeToString(testSecret), base64.RawURLEncoding.EncodeToString(testSecret)}
	texts := []string{rerr.Error(), rerr.Detail, rerr.Debug, rerr.Hint}
	for _, s := range steps {
		texts = append(texts, s.Detail)
	}
	for _, tx := range texts {
		for _, f := range forms {
			if strings.Contains(tx, f) {
				t.Fatalf("secret in %q", tx)
			}
		}
	}
}

// TestInvalidSignatureDebug: the caller's detail omits the signature base;
// the operator's debug text and private trace step carry it, with
// credentials in covered fields redacted.
func TestInvalidSignatureDebug(t *testing.T) {
	r := newServerRequest(t, "GET", "/v1/orders", "", "Authorization: Bearer gk_live_secretvalue")
	hmacSign(t, r, []byte("another-secret-another-secret-0123456789"), "sig1",
		`("@method" "@authority" "@path" "authorization");created=`+created(0)+`;keyid="k1";nonce="x"`, nil)
	v := testVerifier(t, nil)
	var tr trace.Trace
	_, rerr := v.VerifyRequest(&credential.Input{Now: testNow, Trace: &tr}, r, nil)
	if rerr == nil || rerr.Code != CodeInvalid {
		t.Fatalf("got %v", rerr)
	}
	if strings.Contains(rerr.Detail, "@signature-params") {
		t.Fatal("caller detail shows the signature base")
	}
	if !strings.Contains(rerr.Debug, `"@path": /v1/orders`) || !strings.Contains(rerr.Debug, `"authorization": <redacted>`) {
		t.Fatalf("debug %q", rerr.Debug)
	}
	var private bool
	for _, s := range tr.Steps() {
		if strings.Contains(s.Detail, "gk_live_secretvalue") {
			t.Fatalf("credential in trace: %q", s.Detail)
		}
		if s.Private && strings.Contains(s.Detail, "@signature-params") {
			private = true
		}
	}
	if !private {
		t.Fatal("no private trace step with the base")
	}
	if strings.Contains(rerr.Error(), "gk_live_secretvalue") {
		t.Fatal("credential in error text")
	}
}

// TestAlgMismatchOperatorView: the caller is not told the key's
// algorithm, the operator is.
func TestAlgMismatchOperatorView(t *testing.T) {
	r := newServerRequest(t, "GET", "/x", "")
	hmacSign(t, r, testSecret, "sig1", `("@method" "@authority" "@path");created=`+created(0)+`;keyid="k1";nonce="a";alg="ed25519"`, nil)
	var tr trace.Trace
	_, rerr := testVerifier(t, nil).VerifyRequest(&credential.Input{Now: testNow, Trace: &tr}, r, nil)
	if rerr == nil || strings.Contains(rerr.Detail, "hmac") {
		t.Fatalf("caller learns the key's algorithm: %v", rerr)
	}
	found := false
	for _, s := range tr.Steps() {
		if s.Private && strings.Contains(s.Detail, "verifies hmac-sha256") {
			found = true
		}
		if !s.Private && strings.Contains(s.Detail, "hmac-sha256") {
			t.Fatalf("public step names the key's algorithm: %+v", s)
		}
	}
	if !found {
		t.Fatal("operator trace lacks the key's algorithm")
	}
}

// TestReplay: the same signed request twice → the second is
// sig.replayed; a different nonce passes; without a nonce the signature
// value itself is the replay key; after the window the nonce is
// forgotten (and the request is then too old anyway).
func TestReplay(t *testing.T) {
	fc := clock.NewFake(testNow)
	v := testVerifier(t, NewMemoryNonces(0, fc))
	do := func(inner string, p Policy) *reason.Error {
		r := newServerRequest(t, "GET", "/v1/orders", "")
		hmacSign(t, r, testSecret, "sig1", inner, nil)
		var tr trace.Trace
		_, rerr := v.VerifyRequest(&credential.Input{Now: fc.Now(), Trace: &tr}, r, mustRules(t, p))
		return rerr
	}
	withNonce := `("@method" "@authority" "@path");created=` + created(0) + `;keyid="k1";nonce="abc"`
	if err := do(withNonce, Policy{}); err != nil {
		t.Fatalf("first: %v", err)
	}
	err := do(withNonce, Policy{})
	if err == nil || err.Code != CodeReplayed || !err.Possession || !strings.Contains(err.Detail, `nonce "abc"`) {
		t.Fatalf("second: %v", err)
	}
	if err := do(strings.Replace(withNonce, "abc", "abd", 1), Policy{}); err != nil {
		t.Fatalf("fresh nonce: %v", err)
	}
	noNonce := `("@method" "@authority" "@path");created=` + created(0) + `;keyid="k1"`
	if err := do(noNonce, Policy{NonceOptional: true}); err != nil {
		t.Fatalf("first without nonce: %v", err)
	}
	if err := do(noNonce, Policy{NonceOptional: true}); err == nil || err.Code != CodeReplayed {
		t.Fatalf("replay without nonce: %v", err)
	}
	// A failed request does not burn its nonce.
	r := newServerRequest(t, "GET", "/v1/orders", "")
	hmacSign(t, r, []byte("wrong-secret-wrong-secret-wrong-secret!!"), "sig1", strings.Replace(withNonce, "abc", "fresh", 1), nil)
	if _, err := v.VerifyRequest(&credential.Input{Now: fc.Now(), Trace: &trace.Trace{}}, r, nil); err == nil || err.Code != CodeInvalid {
		t.Fatalf("forged: %v", err)
	}
	if err := do(strings.Replace(withNonce, "abc", "fresh", 1), Policy{}); err != nil {
		t.Fatalf("nonce burnt by a forged request: %v", err)
	}
}

// TestNonceStore: TTL expiry on the injected clock, the bound, and
// per-key namespaces.
func TestNonceStore(t *testing.T) {
	ctx := context.Background()
	fc := clock.NewFake(testNow)
	s := NewMemoryNonces(nonceShards*2, fc) // 3 per shard
	if seen, _ := s.Seen(ctx, "k", "n", time.Minute); seen {
		t.Fatal("new nonce seen")
	}
	if seen, _ := s.Seen(ctx, "k", "n", time.Minute); !seen {
		t.Fatal("repeat not seen")
	}
	if seen, _ := s.Seen(ctx, "k2", "n", time.Minute); seen {
		t.Fatal("nonces are per key")
	}
	if seen, _ := s.Seen(ctx, "k\x00n", "", time.Minute); seen {
		t.Fatal("the separator must keep (k\\x00n, \"\") apart from (k, n)")
	}
	fc.Advance(time.Minute + time.Nanosecond)
	if seen, _ := s.Seen(ctx, "k", "n", time.Minute); seen {
		t.Fatal("expired nonce still seen")
	}
	// Fill until full: the bound holds, and refuses rather than evicts.
	var full bool
	for i := 0; i < nonceShards*10 && !full; i++ {
		_, err := s.Seen(ctx, "fill", strconv.Itoa(i), time.Hour)
		full = err == ErrNonceStoreFull
	}
	if !full {
		t.Fatal("store never reported full")
	}
	if n := s.Len(); n > nonceShards*(nonceShards*2/nonceShards+1) {
		t.Fatalf("store holds %d entries, above its bound", n)
	}
	// Once entries expire they make room again.
	fc.Advance(2 * time.Hour)
	if _, err := s.Seen(ctx, "fill", "after", time.Hour); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
}

// TestNonceStoreConcurrent: many goroutines racing on the same nonces;
// each nonce is reported unseen exactly once.
func TestNonceStoreConcurrent(t *testing.T) {
	s := NewMemoryNonces(0, nil)
	const workers, n = 8, 500
	results := make(chan int, workers)
	for w := 0; w < workers; w++ {
		go func() {
			fresh := 0
			for i := 0; i < n; i++ {
				seen, err := s.Seen(context.Background(), "k", strconv.Itoa(i), time.Minute)
				if err != nil {
					panic(err)
				}
				if !seen {
					fresh++
				}
			}
			results <- fresh
		}()
	}
	total := 0
	for w := 0; w < workers; w++ {
		total += <-results
	}
	if total != n {
		t.Fatalf("%d first sightings for %d nonces", total, n)
	}
}

// TestDefaultPolicy: the zero policy compiles with the documented
// defaults; bad requirements are refused.
func TestDefaultPolicy(t *testing.T) {
	r, err := Policy{}.Compile()
	if err != nil {
		t.Fatal(err)
	}
	p := r.Policy()
	if p.MaxAge != DefaultMaxAge || p.MaxSkew != DefaultMaxSkew || p.MaxBody != DefaultMaxBody || len(r.required) != 3 {
		t.Fatalf("defaults %+v", p)
	}
	for _, bad := range [][]string{{"@bogus"}, {"Content-Type"}, {`"@query-param"`}, {"@signature-params"}, {`"x";sf`}} {
		if _, err := (Policy{Required: bad}).Compile(); err == nil {
			t.Errorf("Required %q compiled", bad)
		}
	}
	if _, err := (Policy{MaxAge: -1}).Compile(); err == nil {
		t.Error("negative MaxAge compiled")
	}
}

// TestCodesCatalogued: every code this package returns is in the
// catalogue, with status 401.
func TestCodesCatalogued(t *testing.T) {
	for _, c := range []string{CodeMissing, CodeMalformed, CodeUnknownKey, CodeInvalid, CodeExpired, CodeClockSkew,
		CodeReplayed, CodeInsufficientCoverage, CodeDigestMismatch} {
		e, ok := reason.Lookup(c)
		if !ok || e.Status != http.StatusUnauthorized {
			t.Errorf("%s: catalogued %v, %+v", c, ok, e)
		}
	}
}

// TestRecognizes: a signed request is recognised by its fields, whether
// or not it has an Authorization header.
func TestRecognizes(t *testing.T) {
	v := &Verifier{}
	h := http.Header{}
	if _, ok := Present(h); ok {
		t.Fatal("unsigned request presented")
	}
	h.Set("Signature-Input", `sig1=();keyid="k"`)
	p, ok := Present(h)
	if !ok || !v.Recognizes(p) || p.Token != "" {
		t.Fatalf("Present %+v %v", p, ok)
	}
	if v.Method() != domain.AuthHTTPSignature {
		t.Fatal(v.Method())
	}
	var tr trace.Trace
	if _, rerr := v.Verify(&credential.Input{Trace: &tr}); rerr == nil || rerr.Code != reason.GatewayInternal {
		t.Fatalf("Verify without the request: %v", rerr)
	}
}

// TestBodyStaysForwardable: after digest verification the body reads
// the same, and GetBody replays it.
func TestBodyStaysForwardable(t *testing.T) {
	body := strings.Repeat("payload ", 1000)
	r := newServerRequest(t, "PUT", "/v1/blob", body, "Content-Digest: "+sha256Digest(body))
	hmacSign(t, r, testSecret, "sig1", `("@method" "@authority" "@path" "content-digest");created=`+created(0)+`;keyid="k1";nonce="b"`, nil)
	if _, rerr := testVerifier(t, nil).VerifyRequest(&credential.Input{Now: testNow, Trace: &trace.Trace{}}, r, nil); rerr != nil {
		t.Fatal(rerr)
	}
	got, _ := io.ReadAll(r.Body)
	rc, _ := r.GetBody()
	again, _ := io.ReadAll(rc)
	if string(got) != body || !bytes.Equal(got, again) || r.ContentLength != int64(len(body)) {
		t.Fatalf("body changed: %d bytes, %d again, length %d", len(got), len(again), r.ContentLength)
	}
}

// TestKeyidExistenceIsNotDisclosed: before a signature verifies, the
// caller has proved nothing (§5), so whether its keyid exists must not
// show — an unknown keyid, an alg that is not the key's, a truncated MAC
// and a wrong secret get the same answer, which names only what the
// caller sent; the operator's trace says which it was.
func TestKeyidExistenceIsNotDisclosed(t *testing.T) {
	now := created(0)
	cases := []struct {
		desc, keyid, alg string
		sig              []byte
		private          string // the operator-only step's detail
	}{
		{"unknown keyid", "k9", "", make([]byte, 32), `no signing key with keyid "k9"`},
		{"alg not the key's", "k1", "ed25519", make([]byte, 32), "verifies hmac-sha256, the request says ed25519"},
		{"truncated MAC", "k1", "", make([]byte, 16), "truncated"},
		{"wrong secret", "k1", "", make([]byte, 32), "signature base the gateway computed"},
	}
	var views []reason.View
	for _, c := range cases {
		inner := `("@method" "@authority" "@path");created=` + now + `;keyid="` + c.keyid + `";nonce="n-` + c.desc + `"`
		if c.alg != "" {
			inner += `;alg="` + c.alg + `"`
		}
		r := newServerRequest(t, "GET", "/x", "", "Signature-Input: sig1="+inner, "Signature: sig1=:"+base64.StdEncoding.EncodeToString(c.sig)+":")
		tr := &trace.Trace{}
		v := testVerifier(t, NewMemoryNonces(0, clock.NewFake(testNow)))
		_, rerr := v.VerifyRequest(&credential.Input{Now: testNow, Trace: tr}, r, mustRules(t, Policy{}))
		if rerr == nil {
			t.Fatalf("%s: accepted", c.desc)
		}
		vw := rerr.View(false)
		vw.Detail = strings.Replace(vw.Detail, `"`+c.keyid+`"`, `"KEYID"`, 1) // the caller's own input
		views = append(views, vw)
		var private string
		for _, s := range tr.Steps() {
			if s.Private {
				private += s.Detail + "\n"
			}
		}
		if !strings.Contains(private+rerr.Debug, c.private) {
			t.Errorf("%s: the operator is not told why: %q / %q", c.desc, private, rerr.Debug)
		}
	}
	for i := range views[1:] {
		if views[i+1] != views[0] {
			t.Errorf("%s answers %+v, %s answers %+v: the caller can tell them apart", cases[i+1].desc, views[i+1], cases[0].desc, views[0])
		}
	}
}
