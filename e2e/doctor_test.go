package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDoctorScenarios runs `gatehouse doctor` as a subprocess against a
// real gateway process, once per troubleshooting situation of issue 7, and
// checks the verdict line, the fix line and the exit status.
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
		{desc: "upstream down (--send)", args: []string{"--url", n.proxy + "/billing/invoices", "-H", "X-API-Key: " + good, "--send"}, exit: 1,
			verdict: "upstream.unavailable", fix: "The gateway accepted the credential but the service behind it is down: tell the API owner, quoting request ID "},
	}
	secrets := []string{good, revoked, rotated, testKey, suspended, otherTenant, fenced, str(exp, "key")}
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
		})
	}
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
