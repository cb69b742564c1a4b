package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/domain"
)

// QuickstartOptions configure Quickstart.
type QuickstartOptions struct {
	// Dir is the data directory; its database is recreated on every run.
	Dir            string
	Stdout, Stderr io.Writer
	// Command is how the user runs the binary, for the printed explain
	// line ("go run ./cmd/gatehouse" or "gatehouse").
	Command string
	// ProxyAddr and AdminAddr default to 127.0.0.1:8080 / :8081, falling
	// back to free ports when those are taken.
	ProxyAddr, AdminAddr string
	// Ready, if set, is called once the demo is set up, with the lines
	// printed (tests use it).
	Ready func(QuickstartInfo)
}

// QuickstartInfo is what the quickstart set up.
type QuickstartInfo struct {
	ProxyURL, AdminURL, AdminToken string
	GoodKey, RevokedKey, TypoKey   string
	// RejectedRequestID is the request ID of the revoked-key call the
	// quickstart made itself, so the printed explain line is real.
	RejectedRequestID string
	Output            string
}

// Quickstart runs a demo gateway until ctx is done.
func Quickstart(ctx context.Context, o QuickstartOptions) error {
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	if o.Command == "" {
		o.Command = "gatehouse"
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return fmt.Errorf("quickstart data dir: %w", err)
	}
	db := filepath.Join(o.Dir, "gatehouse.db")
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(db + suffix); err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("reset quickstart database: %w", err)
		}
	}

	demo, err := startDemoUpstream()
	if err != nil {
		return err
	}
	defer demo.Close()

	cfg := config.Default()
	cfg.Database = "sqlite://" + db
	cfg.ProxyAddr = freeOr(o.ProxyAddr, "127.0.0.1:8080")
	cfg.AdminAddr = freeOr(o.AdminAddr, "127.0.0.1:8081")
	cfg.CallLog.FlushInterval = domain.Duration(100 * time.Millisecond)
	log := slog.New(slog.NewTextHandler(o.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := New(ctx, cfg, Options{Logger: log})
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		_ = srv.Close()
		return err
	}
	info := QuickstartInfo{
		ProxyURL:   "http://" + srv.ProxyAddr(),
		AdminURL:   "http://" + srv.AdminAddr(),
		AdminToken: srv.GeneratedToken,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ctx) }()

	if err := setupDemo(ctx, &info, demo.URL); err != nil {
		return fmt.Errorf("quickstart demo setup: %w", err)
	}
	var out bytes.Buffer
	printQuickstart(&out, info, o.Command)
	info.Output = out.String()
	_, _ = o.Stdout.Write(out.Bytes())
	if o.Ready != nil {
		o.Ready(info)
	}
	return <-errc
}

// freeOr returns want if it is set and free, else the default if free,
// else a free port on loopback.
func freeOr(want, def string) string {
	if want != "" {
		return want
	}
	if ln, err := net.Listen("tcp", def); err == nil {
		_ = ln.Close()
		return def
	}
	return "127.0.0.1:0"
}

// startDemoUpstream serves a small JSON API that echoes what the gateway
// told it about the caller, so the quickstart shows identity headers.
func startDemoUpstream() (*demoServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{
			"message":    "Hello from the demo upstream",
			"path":       r.URL.Path,
			"tenant":     r.Header.Get("X-Gatehouse-Tenant"),
			"consumer":   r.Header.Get("X-Gatehouse-Consumer"),
			"credential": r.Header.Get("X-Gatehouse-Credential"),
			"scopes":     r.Header.Get("X-Gatehouse-Scopes"),
			"request_id": r.Header.Get("X-Request-Id"),
		})
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return &demoServer{srv: srv, URL: "http://" + ln.Addr().String()}, nil
}

type demoServer struct {
	srv *http.Server
	URL string
}

func (d *demoServer) Close() { _ = d.srv.Close() }

// setupDemo creates the demo objects through the admin API, exactly as an
// operator would.
func setupDemo(ctx context.Context, info *QuickstartInfo, upstream string) error {
	c := &adminClient{base: info.AdminURL, token: info.AdminToken}
	var tenant, consumer, service, good, bad struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	steps := []struct {
		path string
		body any
		out  any
	}{
		{"/admin/v1/tenants", map[string]any{"slug": "demo", "name": "Demo team"}, &tenant},
	}
	for _, s := range steps {
		if err := c.post(ctx, s.path, s.body, s.out); err != nil {
			return err
		}
	}
	if err := c.post(ctx, "/admin/v1/consumers", map[string]any{"tenant": tenant.ID, "name": "demo-app", "scopes": []string{"demo:read"}}, &consumer); err != nil {
		return err
	}
	if err := c.post(ctx, "/admin/v1/services", map[string]any{"tenant": tenant.ID, "name": "demo-upstream", "targets": []string{upstream}}, &service); err != nil {
		return err
	}
	if err := c.post(ctx, "/admin/v1/routes", map[string]any{"service": service.ID, "name": "demo", "paths": []string{"/demo"},
		"auth": []string{"api_key"}, "scopes": []string{"demo:read"}, "strip_prefix": true}, nil); err != nil {
		return err
	}
	if err := c.post(ctx, "/admin/v1/keys", map[string]any{"consumer": consumer.ID, "environment": "live", "name": "demo key"}, &good); err != nil {
		return err
	}
	if err := c.post(ctx, "/admin/v1/keys", map[string]any{"consumer": consumer.ID, "environment": "live", "name": "leaked demo key"}, &bad); err != nil {
		return err
	}
	if err := c.post(ctx, "/admin/v1/keys/"+bad.ID+"/revoke", map[string]any{"reason": "leaked in a screenshot (demo)"}, nil); err != nil {
		return err
	}
	info.GoodKey, info.RevokedKey = good.Key, bad.Key
	info.TypoKey = typo(good.Key)

	// Make the rejected call once, so the printed explain line names a
	// real request ID; wait until its record is readable.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, info.ProxyURL+"/demo/hello", nil)
	req.Header.Set("Authorization", "Bearer "+info.RevokedKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	info.RejectedRequestID = resp.Header.Get("X-Request-Id")
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if err := c.get(ctx, "/admin/v1/calls/"+info.RejectedRequestID, nil); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// typo changes one character of the secret part, keeping the alphabet.
func typo(key string) string {
	b := []byte(key)
	i := len(b) - 10
	if b[i] == 'x' {
		b[i] = 'y'
	} else {
		b[i] = 'x'
	}
	return string(b)
}

func printQuickstart(w io.Writer, info QuickstartInfo, command string) {
	p := func(format string, a ...any) { fmt.Fprintf(w, format+"\n", a...) }
	p("Gatehouse quickstart is running (Ctrl-C to stop).")
	p("")
	p("  proxy  %s", info.ProxyURL)
	p("  admin  %s", info.AdminURL)
	p("  admin token (shown once; only its hash is stored): %s", info.AdminToken)
	p("")
	p("1. A call that passes (the demo upstream echoes who Gatehouse says you are):")
	p("curl -s %s/demo/hello -H 'Authorization: Bearer %s'", info.ProxyURL, info.GoodKey)
	p("")
	p("2. A revoked key: 401 key.revoked, saying when and why, with a request ID:")
	p("curl -s %s/demo/hello -H 'Authorization: Bearer %s'", info.ProxyURL, info.RevokedKey)
	p("")
	p("3. The good key with one character mistyped: 401 key.checksum_mismatch, caught offline:")
	p("curl -s %s/demo/hello -H 'Authorization: Bearer %s'", info.ProxyURL, info.TypoKey)
	p("")
	p("4. The operator's view of the revoked-key call above (its full decision trace):")
	p("GATEHOUSE_ADMIN_URL=%s GATEHOUSE_ADMIN_TOKEN=%s %s explain %s", info.AdminURL, info.AdminToken, command, info.RejectedRequestID)
	p("")
	p("Every rejection's body names its page: %s/.well-known/gatehouse/errors/key.revoked", info.ProxyURL)
}

// adminClient is the few admin calls the quickstart makes.
type adminClient struct{ base, token string }

func (c *adminClient) post(ctx context.Context, path string, body, out any) error {
	b, _ := json.Marshal(body)
	return c.do(ctx, http.MethodPost, path, bytes.NewReader(b), out)
}

func (c *adminClient) get(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodGet, path, nil, out)
}

func (c *adminClient) do(ctx context.Context, method, path string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(raw)))
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}
