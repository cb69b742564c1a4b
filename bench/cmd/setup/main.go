// Command setup prepares a running Gatehouse for the benchmark through its
// admin API (spec Appendix A) and prints, on stdout, five lines:
//
//	line 1: a live API key for a consumer allowed on route "/"
//	line 2: a well-formed key (valid checksum, live environment) whose id
//	        Gatehouse has never seen — the "unknown key" flood
//	line 3: the API key of the policy row (route "/policy": required scope,
//	        another tenant's published service with an approved
//	        subscription, a route rate limit too high to trigger)
//	line 4: the RFC 9421 keyid of the signature row (route "/sig")
//	line 5: that hmac credential's secret, base64 (shown once by the API)
//
// With -jwks-url it also registers that JWKS as an issuer, binds its subject
// "bench" to the first consumer and opens route "/jwt" to jwt only; the
// token itself (minted by bench/cmd/jwks) comes from GH_JWT_TOKEN.
//
// With -proxy it also checks the measured configuration before anything is
// measured: the key gets the upstream's 200, the upstream receives identity
// headers, a garbage key is rejected, and the unknown key is rejected as
// key.unknown (not as a checksum typo, which would measure the wrong path).
// Diagnostics go to stderr; the admin token is read from
// GATEHOUSE_ADMIN_TOKEN so it never appears in the process list.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"gatehouse/internal/keys"
)

func main() {
	cfg := config{}
	flag.StringVar(&cfg.admin, "admin", "http://127.0.0.1:8081", "Gatehouse admin base URL")
	flag.StringVar(&cfg.upstream, "upstream", "http://127.0.0.1:9000", "upstream URL the benchmark service forwards to")
	flag.StringVar(&cfg.proxy, "proxy", "", "Gatehouse proxy base URL; when set, verify the setup through it")
	flag.StringVar(&cfg.garbage, "garbage", "garbage", "the garbage credential the flood row sends as a Bearer token")
	flag.StringVar(&cfg.jwksURL, "jwks-url", "", "JWKS URL of the JWT row's issuer (empty: no JWT row)")
	flag.StringVar(&cfg.jwtIssuer, "jwt-issuer", "https://bench-idp.example", "the iss of the JWT row's token")
	flag.DurationVar(&cfg.timeout, "timeout", 15*time.Second, "overall time limit")
	flag.Parse()
	cfg.token = os.Getenv("GATEHOUSE_ADMIN_TOKEN")
	cfg.jwt = os.Getenv("GH_JWT_TOKEN")
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "setup:", err)
		os.Exit(1)
	}
}

type config struct {
	admin, token, upstream, proxy, garbage string
	jwksURL, jwtIssuer, jwt                string
	timeout                                time.Duration
}

func run(cfg config) error {
	if cfg.token == "" {
		return errors.New("GATEHOUSE_ADMIN_TOKEN is empty")
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.timeout)
	defer cancel()
	c := &adminClient{base: strings.TrimRight(cfg.admin, "/"), token: cfg.token, http: &http.Client{}}

	w, err := provision(ctx, c, cfg.upstream)
	if err != nil {
		return err
	}
	key := w.key
	unknown, err := unknownKeyLike(key)
	if err != nil {
		return err
	}
	if err := provisionPolicy(ctx, c, &w, cfg.upstream); err != nil {
		return err
	}
	if err := provisionSig(ctx, c, &w); err != nil {
		return err
	}
	if cfg.jwksURL != "" {
		if cfg.jwt == "" {
			return errors.New("-jwks-url without GH_JWT_TOKEN: no token to verify the JWT row with")
		}
		if err := provisionJWT(ctx, c, w, cfg.jwksURL, cfg.jwtIssuer); err != nil {
			return err
		}
	}
	if cfg.proxy != "" {
		hc := &http.Client{}
		proxy := strings.TrimRight(cfg.proxy, "/")
		if err := verify(ctx, hc, proxy, key, unknown, cfg.garbage); err != nil {
			return err
		}
		if err := verifyPolicy(ctx, hc, proxy, w.policyKey, key); err != nil {
			return err
		}
		if err := verifySig(ctx, hc, proxy, w.sigKeyID, w.sigSecret); err != nil {
			return err
		}
		if cfg.jwksURL != "" {
			if err := verifyJWT(ctx, hc, proxy, cfg.jwt); err != nil {
				return err
			}
		}
		if err := provisionLastConsumer(ctx, c, hc, proxy, w.tenant, w.consumer, w.policyConsumer); err != nil {
			return err
		}
	}
	fmt.Println(key)
	fmt.Println(unknown)
	fmt.Println(w.policyKey)
	fmt.Println(w.sigKeyID)
	fmt.Println(w.sigSecret)
	return nil
}

// world is what provision created, and the secrets the admin API showed once.
type world struct {
	tenant, consumer, service, key string
	policyKey, policyConsumer      string
	sigKeyID, sigSecret            string
}

// provision creates tenant → consumer → key, service → route, and returns
// them with the key, which the admin API shows only once.
func provision(ctx context.Context, c *adminClient, upstream string) (world, error) {
	var tenant, consumer, key, service struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	steps := []struct {
		path string
		body func() any
		out  any
	}{
		{"/admin/v1/tenants", func() any { return map[string]any{"slug": "bench", "name": "Benchmark"} }, &tenant},
		{"/admin/v1/consumers", func() any {
			return map[string]any{"tenant": tenant.ID, "name": "bench-client", "scopes": []string{}}
		}, &consumer},
		{"/admin/v1/keys", func() any { return map[string]any{"consumer": consumer.ID, "environment": "live"} }, &key},
		{"/admin/v1/services", func() any {
			return map[string]any{"tenant": tenant.ID, "name": "bench-upstream", "targets": []string{upstream}}
		}, &service},
		{"/admin/v1/routes", func() any {
			return map[string]any{"service": service.ID, "paths": []string{"/"}, "auth": []string{"api_key"}}
		}, nil},
	}
	for _, s := range steps {
		if err := c.post(ctx, s.path, s.body(), s.out); err != nil {
			return world{}, err
		}
	}
	if key.Key == "" {
		return world{}, errors.New("POST /admin/v1/keys answered without a \"key\" field")
	}
	return world{tenant: tenant.ID, consumer: consumer.ID, service: service.ID, key: key.Key}, nil
}

type adminClient struct {
	base, token string
	http        *http.Client
}

// post sends one admin call and decodes the answer into out (when non-nil).
func (c *adminClient) post(ctx context.Context, path string, in, out any) error {
	return c.do(ctx, http.MethodPost, path, in, out)
}

// do sends one admin call with method and decodes the answer into out
// (when non-nil).
func (c *adminClient) do(ctx context.Context, method, path string, in, out any) error {
	payload, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encode %s: %w", path, err)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("build %s: %w", path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read %s answer: %w", path, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: status %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("decode %s answer: %w", path, err)
	}
	return nil
}

// unknownKeyLike returns a fresh key in real's environment, minted by the
// gateway's own generator (so its checksum is valid by construction) but
// never registered: the gateway has to look its id up to reject it. real is
// parsed first so that a key the gateway issued in an unexpected shape fails
// here, loudly, rather than turning the unknown-key row into a measurement
// of format rejections.
func unknownKeyLike(real string) (string, error) {
	parsed, rerr := keys.Parse(real, "")
	if rerr != nil {
		return "", fmt.Errorf("the key the gateway issued does not parse: %s", rerr.Code)
	}
	for range 4 { // a collision with the one real id is astronomically unlikely; retry anyway
		g, err := keys.Generate(parsed.Env)
		if err != nil {
			return "", fmt.Errorf("generate unknown key: %w", err)
		}
		if g.ID != parsed.ID {
			return g.Full, nil
		}
	}
	return "", errors.New("generate unknown key: kept colliding with the real key's id")
}

// verify proves the configuration measures what the table says it does.
func verify(ctx context.Context, hc *http.Client, proxy, key, unknown, garbage string) error {
	status, body, err := get(ctx, hc, proxy+"/", key)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("allowed path: GET / with the bench key answered %d: %s", status, body)
	}
	status, body, err = get(ctx, hc, proxy+"/__gatehouse/headers", key)
	if err != nil {
		return err
	}
	if status != http.StatusOK || !strings.Contains(body, "X-Gatehouse-Consumer:") {
		return fmt.Errorf("identity headers: upstream saw %d %q, want X-Gatehouse-Consumer", status, body)
	}
	fmt.Fprintf(os.Stderr, "setup: upstream received identity headers:\n%s", indent(body))
	for _, probe := range []struct {
		name, credential, wantCode string
	}{
		{"garbage key", garbage, ""},
		{"unknown key", unknown, "key.unknown"},
	} {
		status, body, err := get(ctx, hc, proxy+"/", probe.credential)
		if err != nil {
			return err
		}
		var problem struct {
			Code string `json:"code"`
		}
		_ = json.Unmarshal([]byte(body), &problem) // a non-JSON body leaves Code empty, reported below
		if status != http.StatusUnauthorized || problem.Code == "" || (probe.wantCode != "" && problem.Code != probe.wantCode) {
			return fmt.Errorf("%s: answered %d code %q, want 401 %s", probe.name, status, problem.Code, orAny(probe.wantCode))
		}
		fmt.Fprintf(os.Stderr, "setup: %s rejected as %d %s\n", probe.name, status, problem.Code)
	}
	return nil
}

func get(ctx context.Context, hc *http.Client, url, credential string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+credential)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("GET %s: %w", req.URL.Path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, "", fmt.Errorf("read %s: %w", req.URL.Path, err)
	}
	return resp.StatusCode, string(b), nil
}

func orAny(code string) string {
	if code == "" {
		return "with any code"
	}
	return code
}

func indent(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("  " + line + "\n")
	}
	return b.String()
}
