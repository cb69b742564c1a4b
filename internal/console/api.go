package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// apiClient calls the admin API in-process: it builds an *http.Request with
// the session's admin token and serves it with the admin handler, so every
// action the UI offers goes through exactly the code path of the REST API
// and the CLI — its role checks, validation and audit trail — and the
// console re-implements none of them.
type apiClient struct {
	h http.Handler
}

// apiError is a problem+json answer of the admin API.
type apiError struct {
	Status    int    `json:"status"`
	Code      string `json:"code"`
	Title     string `json:"title"`
	Detail    string `json:"detail"`
	RequestID string `json:"request_id"`
}

func (e *apiError) Error() string {
	if e.Detail != "" {
		return e.Detail
	}
	if e.Title != "" {
		return e.Title
	}
	return fmt.Sprintf("admin API answered %d", e.Status)
}

// statusOf is the HTTP status an error maps to on a page: the admin API's
// own status for its problems, 500 otherwise.
func statusOf(err error) int {
	var ae *apiError
	if errors.As(err, &ae) && ae.Status >= 400 {
		return ae.Status
	}
	return http.StatusInternalServerError
}

// isStatus reports whether err is an admin API problem with this status.
func isStatus(err error, status int) bool {
	var ae *apiError
	return errors.As(err, &ae) && ae.Status == status
}

// listPage is the shape of every admin list answer.
type listPage[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next"`
}

// recorder is the minimal http.ResponseWriter the in-process calls write to.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

// do calls method path (path may carry a query) with body encoded as JSON
// (nil: no body) and decodes a 2xx answer into out (nil: discard).
func (c *apiClient) do(ctx context.Context, token, method, path string, body, out any) error {
	var rd io.Reader = http.NoBody
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("console: encode %s %s: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://gatehouse-console.internal"+path, rd)
	if err != nil {
		return fmt.Errorf("console: build %s %s: %w", method, path, err)
	}
	req.RemoteAddr = "127.0.0.1:0"
	if token != "" {
		// A user session has no token: ctx names the user (admin.AsUser).
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := &recorder{header: http.Header{}}
	c.h.ServeHTTP(rec, req)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if rec.status >= 300 {
		ae := &apiError{}
		if json.Unmarshal(rec.body.Bytes(), ae) != nil || ae.Status == 0 {
			ae.Status = rec.status
		}
		ae.Status = rec.status
		return ae
	}
	if out == nil || rec.status == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(rec.body.Bytes(), out); err != nil {
		return fmt.Errorf("console: decode %s %s: %w", method, path, err)
	}
	return nil
}

func (c *apiClient) get(ctx context.Context, token, path string, out any) error {
	return c.do(ctx, token, http.MethodGet, path, nil, out)
}

// pathOf joins an admin API path with escaped segments and a query.
func pathOf(q url.Values, segments ...string) string {
	var b strings.Builder
	b.WriteString("/admin/v1")
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	if len(q) > 0 {
		b.WriteByte('?')
		b.WriteString(q.Encode())
	}
	return b.String()
}
