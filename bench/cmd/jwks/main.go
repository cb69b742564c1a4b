// Command jwks is the identity provider of the benchmark's JWT row: it
// generates an RSA-2048 key at start, serves it as a JWKS on -addr for as
// long as the run lasts (Gatehouse fetches and may refresh it), and writes
// ONE RS256 token signed with that key to -token-file (mode 0600, never
// stdout or the process list). The row then sends that same token on every
// request: the "repeated token" case of spec §13, where a gateway can cache
// the verified token instead of checking RSA on every call.
package main

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	cfg := config{}
	flag.StringVar(&cfg.addr, "addr", "127.0.0.1:0", "listen address of the JWKS endpoint")
	flag.StringVar(&cfg.issuer, "issuer", "https://bench-idp.example", "the token's iss")
	flag.StringVar(&cfg.subject, "subject", "bench", "the token's sub")
	flag.DurationVar(&cfg.ttl, "ttl", 24*time.Hour, "token lifetime: longer than any run")
	flag.StringVar(&cfg.tokenFile, "token-file", "", "where to write the token (required)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "jwks:", err)
		os.Exit(1)
	}
}

type config struct {
	addr, issuer, subject, tokenFile string
	ttl                              time.Duration
}

const kid = "bench-1"

func run(ctx context.Context, cfg config) error {
	if cfg.tokenFile == "" {
		return errors.New("-token-file is required")
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("generate key: %w", err)
	}
	now := time.Now()
	token, err := sign(key, map[string]any{"iss": cfg.issuer, "sub": cfg.subject, "iat": now.Unix(), "exp": now.Add(cfg.ttl).Unix()})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// The token is written only once the endpoint listens: its presence
	// tells bench/run.sh the JWKS can be fetched.
	if err := os.WriteFile(cfg.tokenFile, []byte(token+"\n"), 0o600); err != nil {
		ln.Close()
		return fmt.Errorf("write token: %w", err)
	}
	slog.Info("jwks serving", "addr", ln.Addr().String(), "kid", kid)
	srv := &http.Server{Handler: handler(&key.PublicKey), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
}

// handler answers every GET with the JWKS holding pub.
func handler(pub *rsa.PublicKey) http.Handler {
	b64 := base64.RawURLEncoding.EncodeToString
	body, _ := json.Marshal(map[string]any{"keys": []map[string]string{{ // map of strings: cannot fail
		"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
		"n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes()),
	}}})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=3600")
		_, _ = w.Write(body)
	})
}

// sign makes a compact RS256 JWT with the given claims.
func sign(key *rsa.PrivateKey, claims map[string]any) (string, error) {
	enc := func(v any) (string, error) {
		b, err := json.Marshal(v)
		if err != nil {
			return "", fmt.Errorf("encode jwt part: %w", err)
		}
		return base64.RawURLEncoding.EncodeToString(b), nil
	}
	h, err := enc(map[string]string{"alg": "RS256", "typ": "JWT", "kid": kid})
	if err != nil {
		return "", err
	}
	c, err := enc(claims)
	if err != nil {
		return "", err
	}
	in := h + "." + c
	sum := sha256.Sum256([]byte(in))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("sign jwt: %w", err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}
