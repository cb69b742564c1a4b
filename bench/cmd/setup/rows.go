package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"gatehouse/bench/internal/httpsign"
)

// Paths of the extra rows: each its own route on the same Gatehouse.
const (
	policyPath = "/policy"
	sigPath    = "/sig"
	jwtPath    = "/jwt"
	sigKeyID   = "bench-sig"
	benchScope = "bench:read"
)

// provisionPolicy builds the policy row (issue 5): a second tenant
// publishes a service that, being another tenant's, needs a subscription;
// a consumer of the bench tenant holding the required scope subscribes and
// is approved; its route requires that scope and carries a rate limit far
// above anything the run can reach, so every check runs and none refuses.
func provisionPolicy(ctx context.Context, c *adminClient, w *world, upstream string) error {
	var owner, consumer, service, key, sub struct {
		ID  string `json:"id"`
		Key string `json:"key"`
	}
	steps := []struct {
		path string
		body func() any
		out  any
	}{
		{"/admin/v1/tenants", func() any { return map[string]any{"slug": "bench-owner", "name": "Benchmark publisher"} }, &owner},
		{"/admin/v1/services", func() any {
			return map[string]any{"tenant": owner.ID, "name": "bench-published", "targets": []string{upstream}, "visibility": "published"}
		}, &service},
		{"/admin/v1/routes", func() any {
			return map[string]any{"service": service.ID, "paths": []string{policyPath}, "auth": []string{"api_key"},
				"scopes": []string{benchScope}, "rate_limit": map[string]any{"limit": 10_000_000, "period": "1m"}}
		}, nil},
		{"/admin/v1/consumers", func() any {
			return map[string]any{"tenant": w.tenant, "name": "bench-policy", "scopes": []string{benchScope}}
		}, &consumer},
		{"/admin/v1/keys", func() any { return map[string]any{"consumer": consumer.ID, "environment": "live"} }, &key},
		{"/admin/v1/subscriptions", func() any {
			return map[string]any{"consumer": consumer.ID, "service": service.ID, "note": "benchmark"}
		}, &sub},
		{"/admin/v1/subscriptions/{sub}/approve", func() any { return map[string]any{"note": "benchmark"} }, nil},
	}
	for _, s := range steps {
		path := s.path
		if path == "/admin/v1/subscriptions/{sub}/approve" {
			path = "/admin/v1/subscriptions/" + url.PathEscape(sub.ID) + "/approve"
		}
		if err := c.post(ctx, path, s.body(), s.out); err != nil {
			return fmt.Errorf("policy row: %w", err)
		}
	}
	if key.Key == "" {
		return errors.New("policy row: POST /admin/v1/keys answered without a \"key\" field")
	}
	w.policyKey, w.policyConsumer = key.Key, consumer.ID
	return nil
}

// provisionSig gives the first consumer an hmac credential and opens
// route /sig to RFC 9421 signatures only.
func provisionSig(ctx context.Context, c *adminClient, w *world) error {
	var cred struct {
		Secret string `json:"secret"`
	}
	if err := c.post(ctx, "/admin/v1/credentials", map[string]any{"consumer": w.consumer, "type": "hmac", "key_id": sigKeyID}, &cred); err != nil {
		return fmt.Errorf("signature row: %w", err)
	}
	if secret, err := base64.StdEncoding.DecodeString(cred.Secret); err != nil || len(secret) == 0 {
		return errors.New("signature row: the hmac credential came back without a base64 \"secret\"")
	}
	if err := c.post(ctx, "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{sigPath}, "auth": []string{"http_signature"}}, nil); err != nil {
		return fmt.Errorf("signature row: %w", err)
	}
	w.sigKeyID, w.sigSecret = sigKeyID, cred.Secret
	return nil
}

// provisionJWT registers the JWKS as an issuer (no audience check), binds
// subject "bench" to the first consumer and opens /jwt to jwt only.
func provisionJWT(ctx context.Context, c *adminClient, w world, jwksURL, issuer string) error {
	var iss struct {
		ID string `json:"id"`
	}
	if err := c.post(ctx, "/admin/v1/issuers", map[string]any{"name": "bench-idp", "issuer": issuer, "jwks_url": jwksURL, "audiences": []string{}}, &iss); err != nil {
		return fmt.Errorf("jwt row: %w", err)
	}
	if err := c.post(ctx, "/admin/v1/credentials", map[string]any{"consumer": w.consumer, "type": "jwt_binding", "issuer": iss.ID, "subject": "bench"}, nil); err != nil {
		return fmt.Errorf("jwt row: %w", err)
	}
	if err := c.post(ctx, "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{jwtPath}, "auth": []string{"jwt"}}, nil); err != nil {
		return fmt.Errorf("jwt row: %w", err)
	}
	return nil
}

// verifyPolicy: the policy key gets 200 on /policy, and the first consumer
// (no scope, no subscription) is refused there — proof the checks are live.
func verifyPolicy(ctx context.Context, hc *http.Client, proxy, policyKey, otherKey string) error {
	status, body, err := get(ctx, hc, proxy+policyPath, policyKey)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("policy row: GET %s answered %d: %s", policyPath, status, body)
	}
	status, body, err = get(ctx, hc, proxy+policyPath, otherKey)
	if err != nil {
		return err
	}
	code := problemCode(body)
	if status != http.StatusForbidden || code == "" {
		return fmt.Errorf("policy row: a consumer without scope or subscription answered %d %q, want 403", status, code)
	}
	fmt.Fprintf(os.Stderr, "setup: policy route: 200 for the subscribed, scoped key; %d %s without them\n", status, code)
	return nil
}

// verifySig: a freshly signed request gets 200 and the very same signed
// request again is refused as sig.replayed — why wrk (one prebuilt request)
// cannot measure this path and bench/cmd/sigload signs every request.
func verifySig(ctx context.Context, hc *http.Client, proxy, keyID, secretB64 string) error {
	secret, err := base64.StdEncoding.DecodeString(secretB64)
	if err != nil {
		return fmt.Errorf("signature row: secret: %w", err)
	}
	u, err := url.Parse(proxy)
	if err != nil {
		return fmt.Errorf("signature row: proxy URL: %w", err)
	}
	in, sig := httpsign.New(keyID, secret).Sign(http.MethodGet, u.Host, sigPath, time.Now().Unix(), "setup-probe")
	for i, want := range []struct {
		status int
		code   string
	}{{http.StatusOK, ""}, {http.StatusUnauthorized, "sig.replayed"}} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, proxy+sigPath, nil)
		if err != nil {
			return fmt.Errorf("signature row: build request: %w", err)
		}
		req.Header.Set("Signature-Input", in)
		req.Header.Set("Signature", sig)
		resp, err := hc.Do(req)
		if err != nil {
			return fmt.Errorf("signature row: GET %s: %w", sigPath, err)
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("signature row: read: %w", err)
		}
		if resp.StatusCode != want.status || (want.code != "" && problemCode(string(b)) != want.code) {
			return fmt.Errorf("signature row: attempt %d answered %d %s, want %d %s", i+1, resp.StatusCode, b, want.status, want.code)
		}
	}
	fmt.Fprintln(os.Stderr, "setup: signature route: 200 for a signed request, 401 sig.replayed for the same request again")
	return nil
}

// verifyJWT: the repeated token gets 200 (twice: the second may be cached).
func verifyJWT(ctx context.Context, hc *http.Client, proxy, token string) error {
	for i := range 2 {
		status, body, err := get(ctx, hc, proxy+jwtPath, token)
		if err != nil {
			return err
		}
		if status != http.StatusOK {
			return fmt.Errorf("jwt row: attempt %d: GET %s with the token answered %d: %s", i+1, jwtPath, status, body)
		}
	}
	fmt.Fprintln(os.Stderr, "setup: jwt route: 200 for the repeated RS256 token")
	return nil
}

func problemCode(body string) string {
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal([]byte(body), &p) // a non-JSON body leaves Code empty, which callers report
	return p.Code
}

// provisionLastConsumer creates consumers of tenant until one's id sorts
// after every measured consumer's, and makes one call with its key.
//
// Why: the call log's consumer index is ordered by (consumer, time). A
// record of the consumer whose id sorts last is appended at the index's
// right edge, which SQLite does cheaply (a new page, no rebalancing);
// every other consumer's records go into the middle of the index, where a
// full page is split and its neighbours rebalanced. With the consumer ids
// random, either the API-key row or the policy row won that edge by the
// luck of the draw, and their ratio swung by 10-20 % from run to run. In a
// gateway with more than one consumer, all but one insert in the middle;
// with this consumer holding the edge, so do both measured rows.
func provisionLastConsumer(ctx context.Context, c *adminClient, hc *http.Client, proxy, tenant string, measured ...string) error {
	// Ids are 16 random base62 characters: when a measured id starts with
	// 'z', one draw in a hundred or so sorts after it. The losers are
	// deleted again.
	const attempts = 5000
	for attempt := 0; attempt < attempts; attempt++ {
		var consumer, key struct {
			ID  string `json:"id"`
			Key string `json:"key"`
		}
		name := fmt.Sprintf("bench-last-%d", attempt)
		if err := c.post(ctx, "/admin/v1/consumers", map[string]any{"tenant": tenant, "name": name, "scopes": []string{}}, &consumer); err != nil {
			return fmt.Errorf("last consumer: %w", err)
		}
		last := true
		for _, id := range measured {
			last = last && consumer.ID > id
		}
		if !last {
			if err := c.do(ctx, http.MethodDelete, "/admin/v1/consumers/"+url.PathEscape(consumer.ID), map[string]any{}, nil); err != nil {
				return fmt.Errorf("last consumer: %w", err)
			}
			continue
		}
		if err := c.post(ctx, "/admin/v1/keys", map[string]any{"consumer": consumer.ID, "environment": "live"}, &key); err != nil {
			return fmt.Errorf("last consumer: %w", err)
		}
		status, body, err := get(ctx, hc, proxy+"/", key.Key)
		if err != nil {
			return err
		}
		if status != http.StatusOK {
			return fmt.Errorf("last consumer %s: GET / answered %d: %s", name, status, body)
		}
		fmt.Fprintf(os.Stderr, "setup: consumer %s (%s) sorts after the measured consumers and has a call record\n", name, consumer.ID)
		return nil
	}
	return fmt.Errorf("last consumer: %d consumers, none with an id after the measured ones (%v)", attempts, measured)
}
