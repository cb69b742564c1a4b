package e2e

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDoctorScenarios runs `gatehouse doctor` as a subprocess against a
// real gateway process, once per troubleshooting situation of issue 7, and
// checks the verdict line, the fix line and the exit status. Then, side by
// side, it makes whoami's dry run and the real request with the same
// method, path and headers and checks they give the same reason code as
// the doctor's verdict. JWTs are minted here with an Ed25519 key whose
// JWKS a loopback server in this process publishes.
func TestDoctorScenarios(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer up.Close()
	dir := t.TempDir()
	n := startNode(t, dir, fmt.Sprintf("proxy_addr: 127.0.0.1:0\nadmin_addr: 127.0.0.1:0\ndatabase: sqlite://%s\nlog_level: warn\nenvironment: live\n",
		filepath.Join(dir, "gatehouse.db")))
	post := func(path string, body map[string]any) map[string]any { return n.adminPost(t, "/admin/v1"+path, body) }
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }

	// The expiring key first: its second runs while the rest is set up.
	acme := str(post("/tenants", map[string]any{"slug": "acme", "name": "Acme"}), "id")
	shop := str(post("/consumers", map[string]any{"tenant": acme, "name": "shop", "scopes": []string{"orders:read"}}), "id")
	exp := post("/keys", map[string]any{"consumer": shop, "environment": "live", "expires_in": "1s"})
	expiresAt, err := time.Parse(time.RFC3339Nano, str(exp, "expires_at"))
	if err != nil {
		t.Fatalf("expires_at %v: %v", exp["expires_at"], err)
	}

	svc := str(post("/services", map[string]any{"tenant": acme, "name": "orders", "targets": []string{up.URL}}), "id")
	post("/routes", map[string]any{"service": svc, "paths": []string{"/orders"}, "auth": []string{"api_key"}, "scopes": []string{"orders:read"}})
	post("/routes", map[string]any{"service": svc, "paths": []string{"/refunds"}, "auth": []string{"api_key"}, "scopes": []string{"refunds:write"}})
	down := str(post("/services", map[string]any{"tenant": acme, "name": "billing", "targets": []string{"http://" + closedAddr(t)}}), "id")
	post("/routes", map[string]any{"service": down, "paths": []string{"/billing"}, "auth": []string{"api_key"}})

	key := func(consumer, env string) (id, full string) {
		k := post("/keys", map[string]any{"consumer": consumer, "environment": env})
		return str(k, "id"), str(k, "key")
	}
	_, good := key(shop, "live")
	revokedID, revoked := key(shop, "live")
	post("/keys/"+revokedID+"/revoke", map[string]any{"reason": "leaked in a screenshot"})
	rotatedID, rotated := key(shop, "live")
	successor := str(post("/keys/"+rotatedID+"/rotate", map[string]any{"grace": "0s"}), "id")
	_, testKey := key(shop, "test")
	idle := str(post("/consumers", map[string]any{"tenant": acme, "name": "idle"}), "id")
	_, suspended := key(idle, "live")
	post("/consumers/"+idle+"/suspend", map[string]any{})
	beta := str(post("/tenants", map[string]any{"slug": "beta", "name": "Beta"}), "id")
	betaApp := str(post("/consumers", map[string]any{"tenant": beta, "name": "beta-app"}), "id")
	_, otherTenant := key(betaApp, "live")
	fenced := str(post("/keys", map[string]any{"consumer": shop, "environment": "live", "ip_allow": []string{"10.0.0.0/8"}}), "key")
	typo := good[:40] + otherChar(good[40]) + good[41:]

	// A service of the same tenant that needs approval: shop asked, nobody
	// decided yet.
	ledger := str(post("/services", map[string]any{"tenant": acme, "name": "ledger", "targets": []string{up.URL}, "approval_required": true}), "id")
	post("/routes", map[string]any{"service": ledger, "paths": []string{"/ledger"}, "auth": []string{"api_key"}})
	post("/subscriptions", map[string]any{"consumer": shop, "service": ledger, "note": "month-end reports"})

	// JWTs: a trusted issuer whose key set this process serves, a binding
	// of its subject to shop, and a second issuer whose key set endpoint
	// nothing listens on (so the gateway never fetched its keys).
	idp := newTestIssuer(t, "k1")
	defer idp.Close()
	const aud = "https://api.acme.test"
	post("/issuers", map[string]any{"name": "idp", "issuer": idp.iss, "jwks_url": idp.URL + "/jwks", "audiences": []string{aud}})
	post("/issuers", map[string]any{"name": "idp-down", "issuer": "https://idp-down.acme.test", "jwks_url": "http://" + closedAddr(t) + "/jwks", "audiences": []string{aud}})
	post("/credentials", map[string]any{"consumer": shop, "type": "jwt_binding", "issuer": "idp", "subject": "user-42"})
	post("/routes", map[string]any{"service": svc, "paths": []string{"/profile"}, "auth": []string{"jwt"}})
	now := time.Now()
	claims := func(iss string, iat, exp time.Duration, nbf bool) map[string]any {
		c := map[string]any{"iss": iss, "sub": "user-42", "aud": aud, "iat": now.Add(iat).Unix(), "exp": now.Add(exp).Unix()}
		if nbf {
			c["nbf"] = c["iat"]
		}
		return c
	}
	goodJWT := idp.mint(t, "k1", idp.key, claims(idp.iss, -time.Minute, time.Hour, true))
	expiredJWT := idp.mint(t, "k1", idp.key, claims(idp.iss, -70*time.Minute, -10*time.Minute, true))
	_, rogue, _ := ed25519.GenerateKey(rand.Reader)
	unknownKeyJWT := idp.mint(t, "k0-retired", rogue, claims(idp.iss, -time.Minute, time.Hour, true))
	// An issuer whose clock runs 2 minutes ahead stamps iat and nbf 2
	// minutes in the future: beyond the 60 s leeway.
	skewedJWT := idp.mint(t, "k1", idp.key, claims(idp.iss, 2*time.Minute, time.Hour+2*time.Minute, true))
	downJWT := idp.mint(t, "k1", idp.key, claims("https://idp-down.acme.test", -time.Minute, time.Hour, true))
	profile := n.proxy + "/profile/me"

	orders := n.proxy + "/orders/42"
	cases := []struct {
		desc    string
		args    []string
		exit    int
		verdict string
		fix     string // the fix line must contain this
	}{
		{desc: "a good key", args: []string{"--url", orders, "-H", "Authorization: Bearer " + good},
			verdict: "ok", fix: "Nothing to fix"},
		{desc: "typo", args: []string{"--url", orders, "-H", "Authorization: Bearer " + typo}, exit: 1,
			verdict: "key.checksum_mismatch", fix: "The key has a typo (its checksum does not match): copy it again"},
		{desc: "truncated key", args: []string{"--url", orders, "-H", "Authorization: Bearer " + good[:50]}, exit: 1,
			verdict: "key.malformed", fix: "9 characters short"},
		{desc: "test key on live", args: []string{"--url", orders, "-H", "Authorization: Bearer " + testKey}, exit: 1,
			verdict: "key.wrong_environment", fix: "This is a test key and the gateway serves live: use a gk_live_ key"},
		{desc: "expired", args: []string{"--url", orders, "-H", "Authorization: Bearer " + str(exp, "key")}, exit: 1,
			verdict: "key.expired", fix: "Ask the owner of application 'shop' for a new key"},
		{desc: "revoked", args: []string{"--url", orders, "-H", "Authorization: Bearer " + revoked}, exit: 1,
			verdict: "key.revoked", fix: "Ask the owner of application 'shop' for a new key"},
		{desc: "rotated, after grace", args: []string{"--url", orders, "-H", "Authorization: Bearer " + rotated}, exit: 1,
			verdict: "key.rotated", fix: "Switch to key " + successor},
		{desc: "suspended consumer", args: []string{"--url", orders, "-H", "Authorization: Bearer " + suspended}, exit: 1,
			verdict: "consumer.suspended", fix: "resume the application"},
		{desc: "other tenant", args: []string{"--url", orders, "-H", "Authorization: Bearer " + otherTenant}, exit: 1,
			verdict: "tenant.mismatch", fix: "Use a key of an application of tenant"},
		{desc: "missing scope", args: []string{"--url", n.proxy + "/refunds/7", "-X", "POST", "-H", "Authorization: Bearer " + good}, exit: 1,
			verdict: "scope.insufficient", fix: "The key lacks refunds:write"},
		{desc: "IP not allowed", args: []string{"--url", orders, "-H", "Authorization: Bearer " + fenced}, exit: 1,
			verdict: "ip.not_allowed", fix: "The gateway sees this machine as 127.0.0.1"},
		{desc: "Token instead of Bearer", args: []string{"--url", orders, "-H", "Authorization: Token " + good}, exit: 1,
			verdict: "auth.scheme_unsupported", fix: "Send 'Authorization: Bearer <key>' instead of 'Token <key>'."},
		{desc: "key in the wrong header", args: []string{"--url", orders, "-H", "Api-Key: " + good}, exit: 1,
			verdict: "auth.missing", fix: "Move the key from the Api-Key header to 'Authorization: Bearer <key>' or 'X-API-Key: <key>'."},
		{desc: "pending subscription", args: []string{"--url", n.proxy + "/ledger/2024-06", "-H", "Authorization: Bearer " + good}, exit: 1,
			verdict: "subscription.pending", fix: "approve"},
		{desc: "a good JWT", args: []string{"--url", profile, "-H", "Authorization: Bearer " + goodJWT},
			verdict: "ok", fix: "Nothing to fix"},
		{desc: "JWT expired", args: []string{"--url", profile, "-H", "Authorization: Bearer " + expiredJWT}, exit: 1,
			verdict: "jwt.expired", fix: "The token expired 10 min"},
		{desc: "JWT signed by an unknown key", args: []string{"--url", profile, "-H", "Authorization: Bearer " + unknownKeyJWT}, exit: 1,
			verdict: "jwt.unknown_kid", fix: "The token is signed with key 'k0-retired', which issuer " + idp.iss + " does not publish"},
		{desc: "issuer clock 2 minutes ahead", args: []string{"--url", profile, "-H", "Authorization: Bearer " + skewedJWT}, exit: 1,
			verdict: "jwt.not_yet_valid", fix: "Clock skew: the issuer's clock is about 2 min ahead"},
		{desc: "JWKS endpoint down", args: []string{"--url", profile, "-H", "Authorization: Bearer " + downJWT}, exit: 1,
			verdict: "auth.backend_unavailable", fix: "The gateway cannot fetch the signing keys (JWKS) of issuer https://idp-down.acme.test, so it cannot check any token of that issuer: your token is not at fault"},
		{desc: "upstream down (--send)", args: []string{"--url", n.proxy + "/billing/invoices", "-H", "X-API-Key: " + good, "--send"}, exit: 1,
			verdict: "upstream.unavailable", fix: "The gateway accepted the credential but the service behind it is down: tell the API owner, quoting request ID "},
	}
	secrets := []string{good, revoked, rotated, testKey, suspended, otherTenant, fenced, str(exp, "key")}
	tokens := []string{goodJWT, expiredJWT, unknownKeyJWT, skewedJWT, downJWT}
	ridRE := regexp.MustCompile(`request ID ([0-9A-Z]{26})\.$`)
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			if tc.verdict == "key.expired" {
				if wait := time.Until(expiresAt); wait > 0 {
					time.Sleep(wait + 50*time.Millisecond)
				}
			}
			var out, errOut bytes.Buffer
			cmd := exec.Command(binary, append([]string{"doctor", "--timeout", "5s"}, tc.args...)...)
			cmd.Stdout, cmd.Stderr = &out, &errOut
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			switch {
			case errors.As(err, &ee):
				code = ee.ExitCode()
			case err != nil:
				t.Fatal(err)
			}
			verdict, fix := lineWith(out.String(), "verdict: "), lineWith(out.String(), "fix: ")
			if code != tc.exit || verdict != tc.verdict || !strings.Contains(fix, tc.fix) {
				t.Errorf("exit %d, verdict %q, fix %q; want exit %d, verdict %q, fix containing %q\nstdout:\n%s\nstderr:\n%s",
					code, verdict, fix, tc.exit, tc.verdict, tc.fix, out.String(), errOut.String())
			}
			if tc.verdict == "upstream.unavailable" && !ridRE.MatchString(fix) {
				t.Errorf("the fix quotes no request ID: %q", fix)
			}
			for _, s := range secrets {
				if strings.Contains(out.String()+errOut.String(), s[21:45]) {
					t.Errorf("the output shows a key's secret:\n%s", out.String())
				}
			}
			for _, tok := range tokens {
				if strings.Contains(out.String()+errOut.String(), tok[strings.LastIndexByte(tok, '.')+1:]) {
					t.Errorf("the output shows a token's signature:\n%s", out.String())
				}
			}

			// Side by side: whoami's dry run and the real request, same
			// method, path and headers, judge alike. The dry run never
			// calls the upstream, so for a request the gateway admits
			// and then fails to forward (upstream.*) it says allow.
			method, target, hdr := requestOf(t, tc.args)
			dry, real := dryRunCode(t, n.proxy, method, target, hdr), realCode(t, method, target, hdr)
			want := tc.verdict
			if want == "ok" {
				want = ""
			}
			if strings.HasPrefix(real, "upstream.") {
				if dry != "" {
					t.Errorf("the real request was admitted (then %s) but the dry run says %s", real, dry)
				}
			} else if dry != real || real != want {
				t.Errorf("dry run %q, real request %q; want both %q", orOK(dry), orOK(real), tc.verdict)
			}
		})
	}
}

func orOK(code string) string {
	if code == "" {
		return "ok"
	}
	return code
}

// requestOf reads the method, URL and headers out of doctor arguments.
func requestOf(t *testing.T, args []string) (method, target string, hdr http.Header) {
	t.Helper()
	method, hdr = http.MethodGet, http.Header{}
	for i := 0; i+1 < len(args); i++ {
		switch args[i] {
		case "--url":
			target = args[i+1]
		case "-X":
			method = args[i+1]
		case "-H":
			name, value, ok := strings.Cut(args[i+1], ":")
			if !ok {
				t.Fatalf("header %q", args[i+1])
			}
			hdr.Add(name, strings.TrimLeft(value, " "))
		default:
			continue
		}
		i++
	}
	return method, target, hdr
}

// dryRunCode asks whoami for a dry run of method target and returns the
// verdict's code ("" when it would be admitted).
func dryRunCode(t *testing.T, proxy, method, target string, hdr http.Header) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	q := url.Values{"method": {method}, "path": {u.Path}}
	req, _ := http.NewRequest(http.MethodGet, proxy+"/.well-known/gatehouse/whoami?"+q.Encode(), nil)
	req.Header = hdr.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var w struct {
		Verdict *struct {
			Allow bool   `json:"allow"`
			Code  string `json:"code"`
		} `json:"verdict"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &w) != nil || w.Verdict == nil {
		t.Fatalf("whoami dry run answered %d: %s", resp.StatusCode, body)
	}
	if w.Verdict.Allow != (w.Verdict.Code == "") {
		t.Fatalf("whoami verdict allow=%v with code %q: %s", w.Verdict.Allow, w.Verdict.Code, body)
	}
	return w.Verdict.Code
}

// realCode makes the real request and returns the gateway's reason code
// ("" when the upstream answered).
func realCode(t *testing.T, method, target string, hdr http.Header) string {
	t.Helper()
	req, _ := http.NewRequest(method, target, nil)
	req.Header = hdr.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode < 300 {
		return ""
	}
	var p struct {
		Code string `json:"code"`
	}
	if json.Unmarshal(body, &p) != nil || p.Code == "" {
		t.Fatalf("the real request answered %d without a reason code: %s", resp.StatusCode, body)
	}
	return p.Code
}

// testIssuer is an identity provider in this process: an Ed25519 signing
// key and its JWKS endpoint on loopback.
type testIssuer struct {
	*httptest.Server
	iss string
	key ed25519.PrivateKey
}

func newTestIssuer(t *testing.T, kid string) *testIssuer {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := json.Marshal(map[string]any{"keys": []any{map[string]any{
		"kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": kid,
		"x": base64.RawURLEncoding.EncodeToString(pub)}}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/jwks" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks)
	}))
	return &testIssuer{Server: srv, iss: srv.URL + "/", key: priv}
}

// mint signs claims as a compact EdDSA JWS with kid.
func (ti *testIssuer) mint(t *testing.T, kid string, key ed25519.PrivateKey, claims map[string]any) string {
	t.Helper()
	h, _ := json.Marshal(map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": kid})
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	return input + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(key, []byte(input)))
}

// lineWith returns the rest of the first line starting with prefix.
func lineWith(out, prefix string) string {
	for _, l := range strings.Split(out, "\n") {
		if s, ok := strings.CutPrefix(l, prefix); ok {
			return s
		}
	}
	return ""
}

func otherChar(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
