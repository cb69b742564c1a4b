// Command sigload is the closed-loop load generator of the benchmark's
// RFC 9421 rows. wrk sends one prebuilt request over and over, and a
// repeated signature is exactly what Gatehouse must refuse (sig.replayed:
// without a nonce the signature value itself is the replay key, and by
// default a nonce is required), so the allowed signature path cannot be
// measured with wrk. sigload signs every request anew — hmac-sha256 over
// "@method" "@authority" "@path" with created = now and a fresh nonce — on
// -conns keep-alive connections, each sending its next request when the
// previous answer is read, like wrk.
//
// A Go client costs more per request than wrk, so its absolute numbers are
// not comparable to the wrk rows: -mode key runs the same generator with an
// API key (same connections, same loop, no signing) and the signature row
// is reported against THAT row.
//
// Output: one GH_RESULT line in the format of bench/wrk/report.lua's done().
// Secrets come from the environment, never flags: GH_BEARER (mode key),
// GH_SIG_KEYID and GH_SIG_SECRET (base64; mode sig).
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"

	"gatehouse/bench/internal/httpsign"
)

func main() {
	cfg := config{}
	flag.StringVar(&cfg.url, "url", "", "URL to request (GET)")
	flag.StringVar(&cfg.mode, "mode", "sig", "sig: sign every request (RFC 9421); key: send GH_BEARER")
	flag.IntVar(&cfg.conns, "conns", 64, "concurrent keep-alive connections")
	flag.DurationVar(&cfg.duration, "duration", 10*time.Second, "measured duration")
	flag.DurationVar(&cfg.warmup, "warmup", 0, "unmeasured lead-in")
	flag.DurationVar(&cfg.timeout, "timeout", 2*time.Second, "per-request timeout (wrk's default)")
	flag.Parse()
	cfg.bearer = os.Getenv("GH_BEARER")
	cfg.keyID = os.Getenv("GH_SIG_KEYID")
	if s := os.Getenv("GH_SIG_SECRET"); s != "" {
		secret, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			fmt.Fprintln(os.Stderr, "sigload: GH_SIG_SECRET is not base64")
			os.Exit(1)
		}
		cfg.secret = secret
	}
	res, err := run(context.Background(), cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sigload:", err)
		os.Exit(1)
	}
	fmt.Println(res.line())
}

type config struct {
	url, mode, bearer, keyID  string
	secret                    []byte
	conns                     int
	duration, warmup, timeout time.Duration
}

// result is what one run measured.
type result struct {
	requests     int
	elapsed      time.Duration
	p50, p99     time.Duration
	statusErrors int // responses with status >= 400, as wrk counts them
	connErrors   int // dial failures
	ioErrors     int // other transport errors (wrk's "read")
	timeouts     int
}

func (r result) line() string {
	return fmt.Sprintf("GH_RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d status_errors=%d connect=%d read=%d write=0 timeout=%d",
		r.requests, r.elapsed.Microseconds(), r.p50.Microseconds(), r.p99.Microseconds(), r.statusErrors, r.connErrors, r.ioErrors, r.timeouts)
}

type worker struct {
	latencies                                    []time.Duration
	statusErrors, connErrors, ioErrors, timeouts int
}

func run(ctx context.Context, cfg config) (result, error) {
	switch {
	case cfg.url == "":
		return result{}, errors.New("-url is required")
	case cfg.conns <= 0:
		return result{}, errors.New("-conns must be positive")
	case cfg.duration <= 0:
		return result{}, errors.New("-duration must be positive")
	case cfg.mode == "sig" && (cfg.keyID == "" || len(cfg.secret) == 0):
		return result{}, errors.New("mode sig needs GH_SIG_KEYID and GH_SIG_SECRET")
	case cfg.mode != "sig" && cfg.mode != "key":
		return result{}, fmt.Errorf("-mode %q: want sig or key", cfg.mode)
	}
	u, err := url.Parse(cfg.url)
	if err != nil {
		return result{}, fmt.Errorf("parse -url: %w", err)
	}
	path := u.EscapedPath()
	if path == "" {
		path = "/"
	}
	transport := &http.Transport{
		MaxIdleConnsPerHost: cfg.conns,
		MaxConnsPerHost:     cfg.conns,
		DisableCompression:  true,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: cfg.timeout}

	// Nonces: a random run prefix, the worker and a counter — unique
	// without a crypto/rand read per request.
	var rnd [6]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return result{}, fmt.Errorf("nonce prefix: %w", err)
	}
	prefix := hex.EncodeToString(rnd[:])

	start := time.Now()
	measureFrom := start.Add(cfg.warmup)
	end := measureFrom.Add(cfg.duration)
	workers := make([]worker, cfg.conns)
	var wg sync.WaitGroup
	for k := range workers {
		wg.Add(1)
		go func(w *worker, id int) {
			defer wg.Done()
			var signer *httpsign.Signer
			if cfg.mode == "sig" {
				signer = httpsign.New(cfg.keyID, cfg.secret)
			}
			wprefix := prefix + "-" + strconv.Itoa(id) + "-"
			for n := 0; ; n++ {
				sent := time.Now()
				if !sent.Before(end) {
					return
				}
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.url, nil)
				if err != nil {
					w.ioErrors++
					return
				}
				if signer != nil {
					in, sig := signer.Sign(http.MethodGet, u.Host, path, sent.Unix(), wprefix+strconv.Itoa(n))
					req.Header["Signature-Input"] = []string{in}
					req.Header["Signature"] = []string{sig}
				} else if cfg.bearer != "" {
					req.Header["Authorization"] = []string{"Bearer " + cfg.bearer}
				}
				status, err := send(client, req)
				done := time.Now()
				if sent.Before(measureFrom) {
					continue
				}
				var ne net.Error
				switch {
				case err != nil && isDialError(err):
					w.connErrors++
				case err != nil && errors.As(err, &ne) && ne.Timeout():
					w.timeouts++
				case err != nil:
					w.ioErrors++
				default:
					if status >= 400 {
						w.statusErrors++
					}
					w.latencies = append(w.latencies, done.Sub(sent))
				}
			}
		}(&workers[k], k)
	}
	wg.Wait()
	elapsed := time.Since(measureFrom)

	var all []time.Duration
	res := result{elapsed: elapsed}
	for _, w := range workers {
		all = append(all, w.latencies...)
		res.statusErrors += w.statusErrors
		res.connErrors += w.connErrors
		res.ioErrors += w.ioErrors
		res.timeouts += w.timeouts
	}
	res.requests = len(all) + res.connErrors + res.ioErrors + res.timeouts
	slices.Sort(all)
	res.p50 = percentile(all, 50)
	res.p99 = percentile(all, 99)
	return res, nil
}

// send does one request and reads the whole body, so the connection
// returns to the pool.
func send(client *http.Client, req *http.Request) (int, error) {
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	closeErr := resp.Body.Close()
	if err != nil {
		return resp.StatusCode, fmt.Errorf("read body: %w", err)
	}
	if closeErr != nil {
		return resp.StatusCode, fmt.Errorf("close body: %w", closeErr)
	}
	return resp.StatusCode, nil
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// percentile returns the p-th percentile of sorted (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}
