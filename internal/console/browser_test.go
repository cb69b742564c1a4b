package console_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"gatehouse/internal/console"
	"gatehouse/internal/testenv"
)

// chromiumPath is Debian's chromium; .ci/run installs it.
const chromiumPath = testenv.ChromiumPath

// needChromium skips the browser tests on a developer machine without
// Chromium, and fails them in CI, where it must be installed.
func needChromium(t *testing.T) {
	t.Helper()
	testenv.Chromium(t)
}

// artifactsDir is where the screenshots go: $GATEHOUSE_ARTIFACTS/console
// when set (CI), else internal/console/artifacts (git-ignored).
func artifactsDir(t *testing.T, name string) *shotDir {
	t.Helper()
	dir := os.Getenv("GATEHOUSE_ARTIFACTS")
	if dir != "" {
		dir = filepath.Join(dir, "console", name)
	} else {
		_, file, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(file), "artifacts", name)
	}
	_ = os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots: %s", dir)
	return &shotDir{dir: dir}
}

// newBrowserAlloc starts headless Chromium with a fresh profile.
func newBrowserAlloc(t *testing.T) context.Context {
	t.Helper()
	needChromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1360, 900),
	}
	ctx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	return ctx
}

// tab is one browser tab with the test's helpers. It accepts confirm()
// dialogs (the console asks before revoking), records any other dialog
// (an alert() can only come from injected script) and every console
// message about the Content-Security-Policy.
type tab struct {
	t     *testing.T
	ctx   context.Context
	shots *shotDir

	mu      sync.Mutex
	alerts  []string
	cspErrs []string
}

// newTab opens a tab: from the allocator context a new browser, from
// another tab's context a second tab of the same browser.
func newTab(t *testing.T, parent context.Context, shots *shotDir) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(parent)
	t.Cleanup(cancel)
	b := &tab{t: t, ctx: ctx, shots: shots}
	if err := chromedp.Do(ctx); err != nil { // start the tab
		t.Fatalf("start chromium: %v", err)
	}
	dialogs := chromedp.Events(ctx, cdppage.JavascriptDialogOpening)
	go func() {
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			if ev.Type != cdppage.DialogTypeConfirm {
				b.mu.Lock()
				b.alerts = append(b.alerts, string(ev.Type)+": "+ev.Message)
				b.mu.Unlock()
			}
			_, _ = chromedp.Call(ctx, cdppage.HandleJavaScriptDialog, cdppage.HandleJavaScriptDialogParams{Accept: ev.Type == cdppage.DialogTypeConfirm})
		}
	}()
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if strings.Contains(m.Text, "Content Security Policy") || m.Type == chromedp.ConsoleException {
				b.mu.Lock()
				b.cspErrs = append(b.cspErrs, string(m.Type)+": "+m.Text)
				b.mu.Unlock()
			}
		}
	}()
	return b
}

func (b *tab) run(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("%s: %v\npage:\n%s", what, err, b.bodyText())
	}
}

func (b *tab) nav(url string) { b.t.Helper(); b.run("navigate "+url, chromedp.Navigate(url)) }

// submit clicks a button (opening any <details> it may sit in) and waits
// for the page it leads to.
func (b *tab) submit(sel string) {
	b.t.Helper()
	b.eval(`(document.querySelectorAll('details').forEach(d => d.open = true), true)`)
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.WaitEvent(cdppage.LoadEventFired, nil, chromedp.Click(chromedp.CSS(sel)))); err != nil {
		b.t.Fatalf("submit %s: %v\npage:\n%s", sel, err, b.bodyText())
	}
}

// fill sets form fields (selector → value) and opens every <details>
// first, as a person would to reach a form.
func (b *tab) fill(fields ...string) {
	b.t.Helper()
	steps := []chromedp.Action[chromedp.Void]{chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(document.querySelectorAll('details').forEach(d => d.open = true), true)`))
		return err
	})}
	for i := 0; i+1 < len(fields); i += 2 {
		steps = append(steps, chromedp.SetValue(chromedp.CSS(fields[i]), fields[i+1]))
	}
	b.run("fill", steps...)
}

func (b *tab) eval(js string) any {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[any](js))
	if err != nil {
		b.t.Fatalf("eval %s: %v", js, err)
	}
	return v
}

func (b *tab) bodyText() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return s
}

// see fails unless the visible page text contains every want.
func (b *tab) see(what string, want ...string) {
	b.t.Helper()
	body := b.bodyText()
	for _, w := range want {
		if !strings.Contains(body, w) {
			b.t.Fatalf("%s: the page does not show %q:\n%s", what, w, body)
		}
	}
}

func (b *tab) value(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("value of %s: %v", sel, err)
	}
	return v
}

// shot saves a full-page screenshot as NN-name.png.
func (b *tab) shot(name string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := b.shots.save(name, png); err != nil {
		b.t.Fatal(err)
	}
}

// shotDir numbers the screenshots of one test in the order they are
// taken, across its tabs.
type shotDir struct {
	dir string
	mu  sync.Mutex
	n   int
}

func (s *shotDir) save(name string, png []byte) error {
	s.mu.Lock()
	s.n++
	n := s.n
	s.mu.Unlock()
	return os.WriteFile(filepath.Join(s.dir, fmt.Sprintf("%02d-%s.png", n, name)), png, 0o644)
}

// clean fails on any alert dialog or CSP violation seen so far.
func (b *tab) clean() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.alerts) > 0 {
		b.t.Errorf("script ran in the page (dialogs): %v", b.alerts)
	}
	if len(b.cspErrs) > 0 {
		b.t.Errorf("Content-Security-Policy violations or exceptions: %v", b.cspErrs)
	}
}

var keyIDRE = regexp.MustCompile(`^gk_(?:live|test)_([0-9A-Za-z]{12})_`)

// TestBrowserFullFlow is the acceptance scenario in headless Chromium: an
// admin creates a tenant, a service, a route, a consumer and a key in the
// console; a developer logs in to the portal with that key and requests a
// subscription; the admin approves it in the inbox; the developer's call
// succeeds; the admin revokes the key; the developer sees the failed call
// with key.revoked and its fix. Every page is screenshotted.
func TestBrowserFullFlow(t *testing.T) {
	alloc := newBrowserAlloc(t)
	g := newGateway(t)
	shots := artifactsDir(t, "full-flow")
	admin := newTab(t, alloc, shots)
	con := g.admin.URL + "/console"
	portal := g.proxy.URL + console.DefaultPortalBase

	// The admin logs in.
	admin.nav(con + "/")
	admin.see("login page", "Log in to the Gatehouse console")
	admin.shot("console-login")
	admin.fill("#token", g.root)
	admin.submit("#login")
	admin.see("dashboard", "Dashboard", "calls", "error rate")
	admin.shot("console-dashboard-empty")

	// Tenants: the owner of the API and the consumer's team.
	admin.nav(con + "/tenants")
	for _, slug := range []string{"payments", "shop"} {
		admin.fill(`form[action="/console/tenants"] input[name=slug]`, slug)
		admin.submit(`form[action="/console/tenants"] button[type=submit]`)
		admin.see("tenant created", "Tenant "+slug+" created.")
	}
	admin.shot("console-tenants")

	// A published service that needs approval, and its route.
	admin.nav(con + "/services")
	admin.fill(`form[action="/console/services"] select[name=tenant]`, g.tenantID("payments"),
		`form[action="/console/services"] input[name=name]`, "ledger",
		`form[action="/console/services"] input[name=targets]`, g.upstream.URL,
		`form[action="/console/services"] select[name=visibility]`, "published")
	admin.eval(`document.querySelector('form[action="/console/services"] input[name=approval_required]').checked = true`)
	admin.submit(`form[action="/console/services"] button[type=submit]`)
	admin.see("service created", "Service ledger created.")
	admin.shot("console-services")

	admin.nav(con + "/routes")
	admin.fill(`form[action="/console/routes"] input[name=paths]`, "/ledger")
	admin.submit(`form[action="/console/routes"] button[type=submit]`)
	admin.see("route created", "created for /ledger")
	admin.shot("console-routes")

	// The consumer and its key; the key is shown once, with a copy button.
	admin.nav(con + "/consumers")
	admin.fill(`form[action="/console/consumers"] select[name=tenant]`, g.tenantID("shop"),
		`form[action="/console/consumers"] input[name=name]`, "checkout")
	admin.submit(`form[action="/console/consumers"] button[type=submit]`)
	admin.see("consumer created", "Consumer checkout created.", "API keys")
	admin.shot("console-consumer")
	admin.submit(`form[action="/console/keys"] button[type=submit]`)
	admin.see("key shown once", "API key created", "Copy it now")
	key := admin.value("#secret")
	m := keyIDRE.FindStringSubmatch(key)
	if m == nil {
		t.Fatalf("the key page shows %q, not a key", key)
	}
	keyID := m[1]
	admin.shot("console-key-created")

	// Before any subscription the call is refused.
	if st, code := g.call("GET", "/ledger/entries", key); st != 403 || code != "subscription.required" {
		t.Fatalf("call before subscribing: %d %s", st, code)
	}

	// The developer logs in to the portal with the key and asks for access.
	dev := newTab(t, admin.ctx, shots)
	dev.nav(portal + "/")
	dev.see("portal login", "Developer portal")
	dev.shot("portal-login")
	dev.fill("#key", key)
	dev.submit("#login")
	dev.see("portal home", "checkout", "tenant shop", "subscription.required")
	dev.shot("portal-home")
	dev.nav(portal + "/services")
	dev.fill(`#svc-ledger input[name=note]`, "checkout needs the ledger")
	dev.submit(`#svc-ledger button[type=submit]`)
	dev.see("subscription requested", "Access to ledger requested: it is pending")
	dev.shot("portal-subscription-pending")
	if st, code := g.call("GET", "/ledger/entries", key); st != 403 || code != "subscription.pending" {
		t.Fatalf("call while pending: %d %s", st, code)
	}

	// The admin approves it in the inbox.
	admin.nav(con + "/subscriptions")
	admin.see("inbox", "1 pending", "checkout needs the ledger")
	admin.shot("console-inbox")
	admin.submit(`#inbox form[action$="/approve"] button[type=submit]`)
	admin.see("approved", "Nothing waiting for a decision", "approved")
	admin.shot("console-inbox-approved")

	// The developer's call succeeds, and the portal shows the state.
	if st, code := g.call("GET", "/ledger/entries", key); st != 200 {
		t.Fatalf("call after approval: %d %s", st, code)
	}
	dev.nav(portal + "/services")
	dev.see("subscription approved", "approved")
	dev.shot("portal-subscription-approved")

	// The console's calls page tails the log live (htmx): a new call
	// appears without a reload.
	admin.nav(con + "/calls?live=1")
	admin.see("live tail", "Live tail")
	before := admin.eval(`document.querySelectorAll('#call-rows tr').length`)
	if st, _ := g.call("GET", "/ledger/live", key); st != 200 {
		t.Fatalf("live call: %d", st)
	}
	ctx, cancel := context.WithTimeout(admin.ctx, 15*time.Second)
	if _, err := waitTrue(ctx, `document.body.innerText.includes('/ledger/live')`); err != nil {
		cancel()
		t.Fatalf("the live tail did not show the new call (rows before: %v): %v", before, err)
	}
	cancel()
	admin.shot("console-calls-live")

	// The admin revokes the key (the console asks for confirmation).
	admin.nav(con + "/keys")
	admin.fill(fmt.Sprintf(`form[action="/console/keys/%s/revoke"] input[name=reason]`, keyID), "compromised")
	admin.submit(fmt.Sprintf(`form[action="/console/keys/%s/revoke"] button[type=submit]`, keyID))
	admin.see("revoked", "revoked: its next request answers key.revoked")
	admin.shot("console-key-revoked")

	// The developer's next call fails with key.revoked…
	if st, code := g.call("GET", "/ledger/entries", key); st != 401 || code != "key.revoked" {
		t.Fatalf("call after revocation: %d %s", st, code)
	}
	// …and the portal shows the failed call, the reason and the fix.
	dev.nav(portal + "/")
	dev.see("portal after revocation", "key.revoked", "API key revoked", "How to fix")
	dev.shot("portal-rejected-call")
	dev.submit(`#rejections a[href*="/calls/"]`)
	dev.see("call detail", "key.revoked", "Fix:", "What the gateway checked")
	dev.shot("portal-call-detail")
	dev.submit(`a[href="/.well-known/gatehouse/errors/key.revoked"]`)
	dev.see("error page", "key.revoked")
	dev.shot("portal-error-page")

	// The operator's view of the same call: the trace as a checklist.
	admin.nav(con + "/calls?reason=key.revoked")
	admin.submit(`#call-rows a[href^="/console/calls/"]`)
	admin.see("console call detail", "Rejected", "key.revoked", "Decision trace", "✗", "checkout")
	admin.shot("console-call-detail")

	// The dashboard draws its charts (uPlot) from the calls.
	admin.nav(con + "/dashboard?window=15m")
	dctx, dcancel := context.WithTimeout(admin.ctx, 15*time.Second)
	if _, err := waitTrue(dctx, `document.querySelectorAll('.uplot').length === 4`); err != nil {
		t.Errorf("dashboard drew %v charts, want 4: %v", admin.eval(`document.querySelectorAll('.uplot').length`), err)
	}
	dcancel()
	admin.see("dashboard", "key.revoked", "checkout")
	admin.shot("console-dashboard")
	for _, p := range []string{"audit", "credentials", "issuers", "admins", "alerts"} {
		admin.nav(con + "/" + p)
		admin.shot("console-" + p)
	}
	dev.nav(portal + "/keys")
	dev.shot("portal-keys")
	dev.nav(portal + "/doctor")
	dev.shot("portal-doctor")

	admin.clean()
	dev.clean()
}

// TestBrowserXSS loads every console page with hostile names stored in
// the gateway: no script runs (no dialog), and the strict CSP is never
// violated by the console's own pages.
func TestBrowserXSS(t *testing.T) {
	alloc := newBrowserAlloc(t)
	e := newEnv(t)
	cid := e.seedXSS()
	shots := artifactsDir(t, "xss")
	b := newTab(t, alloc, shots)
	b.nav(e.srv.URL + "/console/login")
	b.fill("#token", e.root)
	b.submit("#login")
	// The dashboard reads the rollups and loads its trends through htmx:
	// all four charts get drawn under the CSP.
	b.nav(e.srv.URL + "/console/dashboard?window=1h")
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	if _, err := waitTrue(ctx, `document.querySelectorAll('.uplot').length === 4`); err != nil {
		cancel()
		t.Fatalf("dashboard charts: %v (drawn: %v; trends: %v; data blocks: %v; htmx: %v; errors: %v)", err, b.eval(`document.querySelectorAll('.uplot').length`), b.eval(`String(!!document.getElementById('trends'))`), b.eval(`document.querySelectorAll('script.chart-data').length`), b.eval(`typeof htmx`), b.cspErrs)
	}
	cancel()
	b.shot("dashboard-with-trends")
	for _, p := range []string{"/", "/calls", "/calls/01JXSS0000000000000000000A", "/consumers", "/consumers/" + cid, "/keys",
		"/tenants", "/subscriptions", "/audit", "/providers", "/models", "/budgets"} {
		b.nav(e.srv.URL + "/console" + p)
		b.shot("xss" + strings.ReplaceAll(p, "/", "-"))
	}
	b.nav(e.srv.URL + "/console/consumers")
	b.see("hostile name shown as text", xssName)
	b.clean()
}

// tenantID finds a tenant's id by slug through the admin API.
func (g *gateway) tenantID(slug string) string {
	return g.mustAPI("GET", "/admin/v1/tenants/"+slug, nil)["id"].(string)
}

// waitTrue evaluates expr every 100 ms until it is true or ctx ends. Unlike
// chromedp.Poll it survives the page's execution context being replaced
// (htmx swaps and reloads destroy it: "Cannot find context with
// specified id"), which made the dashboard checks flaky.
func waitTrue(ctx context.Context, expr string) (bool, error) {
	var last error
	for {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr)); err == nil && ok {
			return true, nil
		} else if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last == nil {
				last = ctx.Err()
			}
			return false, last
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestBrowserUserLogin: a console user logs in with its username and
// password in Chromium, works within its role (a tenant-admin: its
// tenant's consumers, the AI budgets) under the strict CSP, and logs out.
func TestBrowserUserLogin(t *testing.T) {
	alloc := newBrowserAlloc(t)
	e := newEnv(t)
	e.mustAPI("POST", "/admin/v1/tenants", map[string]any{"slug": "shop"})
	e.mustAPI("POST", "/admin/v1/users", map[string]any{"username": "tam", "role": "tenant-admin", "tenant": "shop", "password": userPassword})
	b := newTab(t, alloc, artifactsDir(t, "user-login"))
	b.nav(e.srv.URL + "/console/login")
	b.shot("login-form")
	b.fill("#username", "tam", "#password", userPassword)
	b.submit("#login-password")
	b.see("logged in as the user", "tam · tenant-admin", "Dashboard")
	b.nav(e.srv.URL + "/console/budgets")
	b.see("budgets page", "AI budgets", "Set a budget")
	b.shot("user-budgets")
	b.submit(`form[action="/console/logout"] button[type=submit]`)
	b.see("back at the login", "Log in to the Gatehouse console")
	b.clean()
}

// TestBrowserDeveloperLogin: in Chromium, an admin creates a developer
// account for a consumer on the console's Users page; the developer logs
// in to the portal with its username and password, requests a
// subscription, creates a key and runs the doctor with it; the admin
// approves the request and the developer sees it approved; a developer
// account is refused at the console; once the admin disables the account
// the developer's next page is the logout. Every step is screenshotted,
// under the strict CSP.
func TestBrowserDeveloperLogin(t *testing.T) {
	alloc := newBrowserAlloc(t)
	g := newGateway(t)
	pay := g.mustAPI("POST", "/admin/v1/tenants", map[string]any{"slug": "payments"})["id"].(string)
	shop := g.mustAPI("POST", "/admin/v1/tenants", map[string]any{"slug": "shop"})["id"].(string)
	g.mustAPI("POST", "/admin/v1/consumers", map[string]any{"tenant": shop, "name": "checkout"})
	ledger := g.mustAPI("POST", "/admin/v1/services", map[string]any{"tenant": pay, "name": "ledger", "targets": []string{g.upstream.URL},
		"visibility": "published", "approval_required": true})["id"].(string)
	g.mustAPI("POST", "/admin/v1/routes", map[string]any{"service": ledger, "paths": []string{"/ledger"}})
	shots := artifactsDir(t, "developer-login")
	con := g.admin.URL + "/console"
	portal := g.proxy.URL + console.DefaultPortalBase

	// The admin creates the developer account on the Users page.
	admin := newTab(t, alloc, shots)
	admin.nav(con + "/login")
	admin.fill("#token", g.root)
	admin.submit("#login")
	admin.nav(con + "/users")
	admin.fill(`form[action="/console/users"] input[name=username]`, "dev@shop",
		`form[action="/console/users"] select[name=role]`, "developer",
		`form[action="/console/users"] input[name=consumer]`, "shop/checkout",
		`form[action="/console/users"] input[name=password]`, userPassword)
	admin.submit(`form[action="/console/users"] button[type=submit]`)
	admin.see("developer created", "User dev@shop (developer) created", "developer portal", "checkout")
	admin.shot("console-developer-created")

	// The developer logs in to the portal with the username and password.
	dev := newTab(t, admin.ctx, shots)
	dev.nav(portal + "/login")
	dev.see("portal login", "Developer portal", "Username", "Or with an API key")
	dev.shot("portal-login-form")
	dev.fill("#username", "dev@shop", "#password", userPassword)
	dev.submit("#login-password")
	dev.see("portal home", "checkout", "logged in as dev@shop", "dev@shop · checkout · shop")
	dev.shot("portal-home")

	// It requests access to the published service and watches the state.
	dev.nav(portal + "/services")
	dev.fill(`#svc-ledger input[name=note]`, "checkout posts entries")
	dev.submit(`#svc-ledger button[type=submit]`)
	dev.see("subscription requested", "Access to ledger requested: it is pending")
	dev.shot("portal-subscription-pending")

	// A key of its own, shown once; the doctor run with it.
	dev.nav(portal + "/keys")
	dev.submit(`form[action="` + console.DefaultPortalBase + `/keys"] button[type=submit]`)
	dev.see("key created", "API key created", "Copy it now")
	key := dev.value("#secret")
	if keyIDRE.FindStringSubmatch(key) == nil {
		t.Fatalf("the key page shows %q, not a key", key)
	}
	dev.shot("portal-key-created")
	dev.nav(portal + "/doctor")
	dev.fill("#doctor-path", "/ledger/entries", "#doctor-key", key)
	dev.submit("#doctor-run")
	dev.see("doctor", "verdict: subscription.pending")
	if strings.Contains(dev.bodyText(), key) {
		t.Error("the doctor page shows the key")
	}
	dev.shot("portal-doctor-pending")

	// The admin approves; the developer sees it, and the key works.
	admin.nav(con + "/subscriptions")
	admin.see("inbox", "checkout posts entries")
	admin.submit(`#inbox form[action$="/approve"] button[type=submit]`)
	admin.see("approved", "Nothing waiting for a decision")
	dev.nav(portal + "/services")
	dev.see("subscription approved", "approved")
	dev.shot("portal-subscription-approved")
	if st, code := g.call("GET", "/ledger/entries", key); st != 200 {
		t.Fatalf("call after approval: %d %s", st, code)
	}

	// The developer account does not open the console.
	dev.nav(con + "/login")
	dev.fill("#username", "dev@shop", "#password", userPassword)
	dev.submit("#login-password")
	dev.see("console refuses a developer", "This is a developer account", "Log in to the Gatehouse console")
	dev.shot("console-refuses-developer")

	// Disabled by the admin: the developer's next page is the logout.
	admin.nav(con + "/users")
	admin.submit(`form[action$="/disable"] button[type=submit]`)
	admin.see("disabled", "User dev@shop is disabled")
	admin.shot("console-developer-disabled")
	dev.nav(portal + "/keys")
	dev.see("logged out", "Logged out", "Your account dev@shop was disabled")
	dev.shot("portal-logged-out")

	admin.clean()
	dev.clean()
}
