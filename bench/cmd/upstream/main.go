// Command upstream is the static origin every row of the benchmark talks to.
//
// It is a plain net/http server (no fasthttp, no framework) answering a fixed
// 64-byte body, so that the direct row and every proxy row hit exactly the same
// origin cost. The response headers are preassembled once; the handler does no
// allocation of its own.
//
// One extra path, /__gatehouse/headers, echoes the X-Gatehouse-* and
// X-Request-Id headers it received. The setup program uses it to prove that the
// Gatehouse row really forwards identity headers; the check is a single string
// comparison on the path, paid equally by every row.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"
)

// body is exactly 64 bytes: small enough that the proxies, not the payload,
// dominate the measurement.
const body = "gatehouse bench upstream: static 64-byte body for every row....\n"

// echoPath is the diagnostics path that reflects identity headers.
const echoPath = "/__gatehouse/headers"

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "listen address")
	flag.Parse()
	if err := run(*addr); err != nil {
		slog.Error("upstream failed", "err", err)
		os.Exit(1)
	}
}

func run(addr string) error {
	if len(body) != 64 {
		return fmt.Errorf("body is %d bytes, want 64", len(body))
	}
	srv := &http.Server{
		Addr:              addr,
		Handler:           newHandler(),
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

// newHandler returns the static handler. Header values are shared slices
// assigned directly into the map, which net/http allows and which avoids the
// per-request allocations of Header.Set.
func newHandler() http.Handler {
	contentType := []string{"text/plain; charset=utf-8"}
	contentLength := []string{fmt.Sprint(len(body))}
	payload := []byte(body)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == echoPath {
			echoIdentity(w, r)
			return
		}
		h := w.Header()
		h["Content-Type"] = contentType
		h["Content-Length"] = contentLength
		_, _ = w.Write(payload)
	})
}

// echoIdentity writes the identity headers the request carried, one
// "Name: value" per line, sorted, so a caller can check what a proxy added.
func echoIdentity(w http.ResponseWriter, r *http.Request) {
	var lines []string
	for name, values := range r.Header {
		if strings.HasPrefix(name, "X-Gatehouse-") || name == "X-Request-Id" {
			for _, v := range values {
				lines = append(lines, name+": "+v)
			}
		}
	}
	sort.Strings(lines)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = fmt.Fprintln(w, strings.Join(lines, "\n"))
}
