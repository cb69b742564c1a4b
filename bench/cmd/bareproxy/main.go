// Command bareproxy is the benchmark's floor for a Go gateway: the standard
// library's httputil.ReverseProxy (with Rewrite) in front of one upstream, plus
// one constant-time API key check, and nothing else — no routing table, no
// call log, no identity headers.
//
// Gatehouse's first forwarding engine is built on the same ReverseProxy, so the
// ratio "Gatehouse / bare proxy" isolates what the gateway's own pipeline costs.
//
// The key is read from the BAREPROXY_KEY environment variable rather than a
// flag so that it never appears in the process list.
package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "listen address")
	upstream := flag.String("upstream", "http://127.0.0.1:9000", "upstream base URL")
	idle := flag.Int("idle-per-host", 256, "idle upstream connections kept per host (stock default is 2, which makes 64 client connections churn TCP)")
	flag.Parse()
	key := os.Getenv("BAREPROXY_KEY")
	if err := run(*addr, *upstream, key, *idle); err != nil {
		slog.Error("bareproxy failed", "err", err)
		os.Exit(1)
	}
}

func run(addr, upstream, key string, idlePerHost int) error {
	if key == "" {
		return errors.New("BAREPROXY_KEY is empty: the baseline must pay for one key check like every other row")
	}
	target, err := url.Parse(upstream)
	if err != nil {
		return fmt.Errorf("parse upstream %q: %w", upstream, err)
	}
	handler, err := newHandler(target, key, idlePerHost)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Addr:              addr,
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return fmt.Errorf("listen on %s: %w", addr, err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// newHandler builds the key check in front of the reverse proxy.
func newHandler(target *url.URL, key string, idlePerHost int) (http.Handler, error) {
	base, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return nil, errors.New("http.DefaultTransport is not an *http.Transport")
	}
	transport := base.Clone()
	transport.MaxIdleConns = 0 // no global cap; the per-host cap below governs
	transport.MaxIdleConnsPerHost = idlePerHost
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
		},
		Transport: transport,
	}
	want := []byte("Bearer " + key)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get("Authorization")
		// ConstantTimeCompare returns early only on a length mismatch, which
		// reveals the key's length, not its content — the same trade-off every
		// fixed-format key check makes.
		if subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="bareproxy", error="invalid_token"`)
			http.Error(w, "invalid key", http.StatusUnauthorized)
			return
		}
		proxy.ServeHTTP(w, r)
	}), nil
}
