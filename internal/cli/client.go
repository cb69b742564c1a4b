package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// apiPrefix is the admin API's path prefix (§7).
const apiPrefix = "/admin/v1"

// requestTimeout bounds one admin call: the admin API answers from the
// store, so anything slower is a hung gateway and the operator should hear
// about it rather than wait.
const requestTimeout = 30 * time.Second

// maxBody bounds how much of a response the CLI reads (a call-log page with
// traces is well under this).
const maxBody = 32 << 20

// client talks to the admin API. The token is only ever put in the
// Authorization header: never in a URL, an error or the output.
type client struct {
	base  *url.URL
	token string
	http  *http.Client
}

func newClient(base, token string) (*client, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("admin URL %q is not an http(s) URL such as %s; set --admin-url or %s", base, DefaultAdminURL, EnvAdminURL)
	}
	if u.User != nil {
		return nil, fmt.Errorf("admin URL must not carry credentials; pass the token with --token or %s", EnvAdminToken)
	}
	return &client{base: u, token: token, http: &http.Client{Timeout: requestTimeout}}, nil
}

// response is one admin API answer.
type response struct {
	status int
	body   []byte
}

// problem is an RFC 9457 problem+json body as the admin API writes it.
type problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	Code      string `json:"code"`
	Hint      string `json:"hint"`
	RequestID string `json:"request_id"`
}

// apiError is a non-2xx answer from the admin API, phrased for a person.
type apiError struct {
	status  int
	problem problem
	// raw holds a non-problem body (e.g. from a proxy in between), trimmed.
	raw string
	// tokenSet tells a 401 for a missing token from one for a wrong token.
	tokenSet bool
	base     string
}

func (e *apiError) Error() string {
	var b strings.Builder
	p := e.problem
	switch e.status {
	case http.StatusUnauthorized:
		if e.tokenSet {
			b.WriteString("the admin API rejected the token (401)")
		} else {
			b.WriteString("no admin token was sent, and the admin API requires one (401)")
		}
		if p.Detail != "" {
			b.WriteString(": " + p.Detail)
		}
		b.WriteString("\nPass --token or set " + EnvAdminToken + " to the token the gateway was started with in " + EnvAdminToken +
			", the bootstrap token it printed once on its first start, or one made with 'gatehouse admin create'.")
		return b.String()
	case http.StatusForbidden:
		b.WriteString("your admin token's role does not allow this (403)")
		if p.Detail != "" {
			b.WriteString(": " + p.Detail)
		}
		return b.String()
	}
	title := p.Title
	if title == "" {
		title = http.StatusText(e.status)
	}
	fmt.Fprintf(&b, "%s (%d", title, e.status)
	if p.Code != "" {
		b.WriteString(" " + p.Code)
	}
	b.WriteString(")")
	switch {
	case p.Detail != "":
		b.WriteString(": " + p.Detail)
	case e.raw != "":
		b.WriteString(": " + e.raw)
	}
	if p.Hint != "" {
		b.WriteString("\nhint: " + p.Hint)
	}
	if e.status == http.StatusNotFound && p.Detail == "" && e.raw != "" {
		b.WriteString("\nIs " + e.base + " the gateway's admin listener (not its proxy port)?")
	}
	return b.String()
}

// unreachableError says the admin API could not be reached at all.
type unreachableError struct {
	base string
	err  error
}

func (e *unreachableError) Error() string {
	why := "connection failed"
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.Is(e.err, syscall.ECONNREFUSED):
		why = "connection refused: nothing is listening there"
	case errors.As(e.err, &dnsErr):
		why = "unknown host " + dnsErr.Name
	case errors.As(e.err, &netErr) && netErr.Timeout():
		why = "no answer within " + requestTimeout.String()
	}
	return fmt.Sprintf("the admin API isn't reachable at %s (%s).\n"+
		"Is the gateway running? Point the CLI at its admin listener with --admin-url or %s, e.g. export %s=%s",
		e.base, why, EnvAdminURL, EnvAdminURL, DefaultAdminURL)
}

func (e *unreachableError) Unwrap() error { return e.err }

// do sends one request. query may be nil; in, when not nil, is sent as JSON.
// A non-2xx answer is returned as *apiError.
func (c *client) do(ctx context.Context, method, path string, query url.Values, in any) (response, error) {
	// path is already escaped (ids go through pathEscape), so a consumer
	// reference such as "acme/shop" travels as one segment, acme%2Fshop.
	u := *c.base
	u.RawPath = c.base.EscapedPath() + apiPrefix + path
	p, err := url.PathUnescape(u.RawPath)
	if err != nil {
		return response{}, fmt.Errorf("bad path %q: %w", path, err)
	}
	u.Path = p
	if len(query) > 0 {
		u.RawQuery = query.Encode()
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return response{}, fmt.Errorf("encoding request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return response{}, fmt.Errorf("building request: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	req.Header.Set("User-Agent", "gatehouse-cli")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return response{}, fmt.Errorf("%s %s: %w", method, path, ctx.Err())
		}
		return response{}, &unreachableError{base: c.base.String(), err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return response{}, fmt.Errorf("reading the admin API's answer to %s %s: %w", method, path, err)
	}
	r := response{status: resp.StatusCode, body: b}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return r, nil
	}
	e := &apiError{status: resp.StatusCode, tokenSet: c.token != "", base: c.base.String()}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if (mt == "application/problem+json" || mt == "application/json") && json.Unmarshal(b, &e.problem) == nil {
		return r, e
	}
	e.raw = snippet(b)
	return r, e
}

// getJSON GETs path and decodes the answer into out, returning the raw body.
func (c *client) getJSON(ctx context.Context, path string, query url.Values, out any) ([]byte, error) {
	return c.call(ctx, http.MethodGet, path, query, nil, out)
}

// call sends a request and decodes a JSON answer into out (when out is not
// nil and there is a body), returning the raw body.
func (c *client) call(ctx context.Context, method, path string, query url.Values, in, out any) ([]byte, error) {
	r, err := c.do(ctx, method, path, query, in)
	if err != nil {
		return nil, err
	}
	if out != nil && len(bytes.TrimSpace(r.body)) > 0 {
		if err := json.Unmarshal(r.body, out); err != nil {
			return r.body, fmt.Errorf("the admin API's answer to %s %s is not the expected JSON: %w", method, path, err)
		}
	}
	return r.body, nil
}

// snippet trims a non-JSON error body to one readable line.
func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// pathEscape escapes one path segment (an id, slug or request id).
func pathEscape(s string) string { return url.PathEscape(s) }
