// Command paced is an open-loop HTTP load generator for the benchmark's
// "p99 below saturation" rows: it offers a fixed request rate and reports the
// latency distribution at that rate.
//
// Why not wrk: wrk is closed-loop (a connection sends its next request only
// after the previous answer), and Debian ships no wrk2. A closed loop hides
// stalls — while the server hangs, wrk simply stops sending, so the requests
// that would have queued are never timed (coordinated omission) — and pacing
// it with a pause per connection drifts whenever response times change.
//
// The model is wrk2's: each of -conns workers owns every conns-th slot of a
// global schedule (slot i is due at start + i/rate) and sends its requests on
// its own keep-alive connection. Latency is measured from the slot's due time,
// not from the moment the request went out, so a stall counts against every
// request it delays.
//
// Output: one line in the format of bench/wrk/report.lua's done(), which
// bench/run.sh parses:
//
//	GH_RESULT requests=… duration_us=… p50_us=… p99_us=… status_errors=… connect=… read=… write=… timeout=…
//
// The Authorization bearer comes from GH_BEARER, never from a flag, so a key
// does not appear in the process list.
//
// With -slow-log FILE it also writes every measured request slower than
// -slow, one per line as "due_ms latency_ms" (due time from the start of the
// measured window), after a first line "# start_unix_ns N": slow requests
// come in clusters, and the wall-clock start lines them up with a
// runtime/trace of the server (its clock snapshots) to see what the server
// was doing during each stall (bench/README, "The latency tail").
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"
)

func main() {
	cfg := config{}
	flag.StringVar(&cfg.url, "url", "", "URL to request (GET)")
	flag.Float64Var(&cfg.rate, "rate", 1000, "offered requests per second (all connections together)")
	flag.IntVar(&cfg.conns, "conns", 64, "connections, each with its own share of the schedule")
	flag.DurationVar(&cfg.duration, "duration", 10*time.Second, "measured duration")
	flag.DurationVar(&cfg.warmup, "warmup", 0, "unmeasured lead-in at the same rate")
	flag.StringVar(&cfg.slowLog, "slow-log", "", "write each request slower than -slow to this file (due time, latency)")
	flag.DurationVar(&cfg.slow, "slow", 2*time.Millisecond, "the latency -slow-log records from")
	flag.Parse()
	cfg.bearer = os.Getenv("GH_BEARER")
	res, err := run(context.Background(), cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "paced:", err)
		os.Exit(1)
	}
	fmt.Println(res.line())
}

type config struct {
	url, bearer      string
	rate             float64
	conns            int
	duration, warmup time.Duration
	slowLog          string        // file for requests slower than slow; "" = none
	slow             time.Duration // threshold of slowLog
}

// result is what one run measured.
type result struct {
	requests     int
	elapsed      time.Duration
	p50, p99     time.Duration
	statusErrors int // responses with status >= 400, as wrk counts them
	connErrors   int // dial failures
	ioErrors     int // any other transport error (reported as wrk's "read")
}

func (r result) line() string {
	return fmt.Sprintf("GH_RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d status_errors=%d connect=%d read=%d write=0 timeout=0",
		r.requests, r.elapsed.Microseconds(), r.p50.Microseconds(), r.p99.Microseconds(), r.statusErrors, r.connErrors, r.ioErrors)
}

// worker is one connection's share of the run.
type worker struct {
	latencies                          []time.Duration
	slow                               []slowRequest
	statusErrors, connErrors, ioErrors int
}

func run(ctx context.Context, cfg config) (result, error) {
	switch {
	case cfg.url == "":
		return result{}, errors.New("-url is required")
	case cfg.rate <= 0:
		return result{}, errors.New("-rate must be positive")
	case cfg.conns <= 0:
		return result{}, errors.New("-conns must be positive")
	case cfg.duration <= 0:
		return result{}, errors.New("-duration must be positive")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.url, nil)
	if err != nil {
		return result{}, fmt.Errorf("build request: %w", err)
	}
	if cfg.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+cfg.bearer)
	}
	transport := &http.Transport{
		MaxIdleConnsPerHost: cfg.conns,
		MaxConnsPerHost:     cfg.conns,
		DisableCompression:  true,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}

	interval := time.Duration(float64(time.Second) / cfg.rate)
	start := time.Now().Add(50 * time.Millisecond) // let every worker reach its first slot
	measureFrom := start.Add(cfg.warmup)
	end := measureFrom.Add(cfg.duration)
	workers := make([]worker, cfg.conns)
	var wg sync.WaitGroup
	for k := range workers {
		wg.Add(1)
		go func(w *worker, first int) {
			defer wg.Done()
			w.latencies = make([]time.Duration, 0, int(cfg.duration.Seconds()*cfg.rate)/cfg.conns+16)
			for i := first; ; i += cfg.conns {
				due := start.Add(time.Duration(i) * interval)
				if !due.Before(end) {
					return
				}
				if d := time.Until(due); d > 0 {
					time.Sleep(d)
				}
				status, err := send(client, req)
				done := time.Now()
				if due.Before(measureFrom) {
					continue
				}
				switch {
				case err != nil && isDialError(err):
					w.connErrors++
				case err != nil:
					w.ioErrors++
				default:
					if status >= 400 {
						w.statusErrors++
					}
					lat := done.Sub(due)
					w.latencies = append(w.latencies, lat)
					if cfg.slowLog != "" && lat >= cfg.slow {
						w.slow = append(w.slow, slowRequest{due: due.Sub(measureFrom), latency: lat})
					}
				}
			}
		}(&workers[k], k)
	}
	wg.Wait()
	// The measured window is fixed by the schedule; a run that overran it
	// (server too slow for the rate) shows as latency, not as a longer window.
	elapsed := max(time.Since(measureFrom), cfg.duration)

	var all []time.Duration
	res := result{elapsed: elapsed}
	for _, w := range workers {
		all = append(all, w.latencies...)
		res.statusErrors += w.statusErrors
		res.connErrors += w.connErrors
		res.ioErrors += w.ioErrors
	}
	res.requests = len(all) + res.connErrors + res.ioErrors
	if cfg.slowLog != "" {
		if err := writeSlow(cfg.slowLog, measureFrom, workers); err != nil {
			return res, err
		}
	}
	slices.Sort(all)
	res.p50 = percentile(all, 50)
	res.p99 = percentile(all, 99)
	return res, nil
}

// slowRequest is one measured request at or above -slow.
type slowRequest struct {
	due     time.Duration // from the start of the measured window
	latency time.Duration
}

// writeSlow writes the workers' slow requests in due order (see -slow-log).
func writeSlow(path string, start time.Time, workers []worker) error {
	var all []slowRequest
	for _, w := range workers {
		all = append(all, w.slow...)
	}
	slices.SortFunc(all, func(a, b slowRequest) int { return int(a.due - b.due) })
	var b []byte
	b = fmt.Appendf(b, "# start_unix_ns %d\n", start.UnixNano())
	for _, s := range all {
		b = fmt.Appendf(b, "%.3f %.3f\n", float64(s.due)/1e6, float64(s.latency)/1e6)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("-slow-log: %w", err)
	}
	return nil
}

// send does one request on the shared template and reads the whole body, so
// the connection returns to the pool.
func send(client *http.Client, tmpl *http.Request) (int, error) {
	resp, err := client.Do(tmpl.Clone(tmpl.Context()))
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
