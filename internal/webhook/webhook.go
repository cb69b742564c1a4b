// Package webhook delivers Gatehouse's event notifications (subscription
// requested, approved, rejected, revoked; later alerts) as signed JSON POSTs
// to configured URLs.
//
// Delivery never blocks the caller: Publish encodes the event once and puts
// it on a bounded queue per URL; one worker per URL posts it, so a dead or
// slow receiver delays only its own deliveries. A full queue drops the
// event for that URL and counts the drop (Stats), never silently. Each
// attempt has a timeout; network errors, 408, 425, 429 and 5xx answers are
// retried with exponential backoff (honouring Retry-After, capped) up to a
// bounded number of attempts; other answers, redirects included, are final.
//
// Signature. Every attempt carries
//
//	Gatehouse-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
//
// computed at send time, so a receiver can refuse stale or replayed
// deliveries (Verify does both checks). Gatehouse-Event-Id stays the same
// across retries for de-duplication; Gatehouse-Delivery-Attempt counts
// them. The secret and URL credentials or queries never appear in logs.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gatehouse/internal/clock"
)

// Headers of every delivery.
const (
	SignatureHeader = "Gatehouse-Signature"
	EventHeader     = "Gatehouse-Event"
	EventIDHeader   = "Gatehouse-Event-Id"
	AttemptHeader   = "Gatehouse-Delivery-Attempt"
)

// Defaults for Options left zero.
const (
	DefaultTimeout     = 5 * time.Second
	DefaultMaxAttempts = 5
	DefaultRetryBase   = time.Second
	DefaultRetryMax    = time.Minute
	DefaultQueueSize   = 256
	// MinSecretLength is the shortest signing secret accepted: a receiver
	// trusts whatever verifies, so the key must not be guessable.
	MinSecretLength = 16
)

// maxResponseBody bounds what is read of a receiver's answer (only to let
// the connection be reused).
const maxResponseBody = 64 << 10

// Event is one notification. Data must encode as JSON.
type Event struct {
	// ID identifies the event across retries and receivers ("evt_…").
	ID   string    `json:"id"`
	Type string    `json:"type"` // e.g. "subscription.approved"
	Time time.Time `json:"time"`
	Data any       `json:"data"`
}

// Options configure a Sender. URLs and Secret are required.
type Options struct {
	URLs []string
	// Secret signs every delivery (HMAC-SHA256); at least MinSecretLength
	// bytes.
	Secret []byte
	// Timeout bounds one attempt, from connecting to reading the status.
	Timeout time.Duration
	// MaxAttempts bounds the attempts per delivery (first one included).
	MaxAttempts int
	// RetryBase is the wait before the second attempt; it doubles for each
	// further one, capped at RetryMax (which also caps a Retry-After).
	RetryBase time.Duration
	RetryMax  time.Duration
	// QueueSize bounds the deliveries waiting per URL; beyond it events are
	// dropped and counted.
	QueueSize int
	// Client sends the requests; its redirects are never followed. Default:
	// a client of its own.
	Client *http.Client
	// Clock stamps signatures; Sleep waits between attempts and returns
	// early with ctx's error when ctx is done. Tests inject both.
	Clock  clock.Clock
	Sleep  func(ctx context.Context, d time.Duration) error
	Logger *slog.Logger
}

// Stats counts deliveries (one event to one URL is one delivery).
type Stats struct {
	Published int64 `json:"published"` // events accepted by Publish
	Delivered int64 `json:"delivered"` // deliveries answered 2xx
	Failed    int64 `json:"failed"`    // deliveries given up: a final answer or attempts exhausted
	Retries   int64 `json:"retries"`   // attempts after the first
	Dropped   int64 `json:"dropped"`   // deliveries never attempted: queue full, or the sender closed
	Queued    int64 `json:"queued"`    // deliveries waiting now
}

// Sender delivers events. It is safe for concurrent use.
type Sender struct {
	opts      Options
	endpoints []*endpoint
	log       *slog.Logger
	// run is cancelled when Close gives up waiting: in-flight attempts and
	// backoff waits end at once.
	run    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.RWMutex // guards closed against sends on closed queues
	closed bool

	published, delivered, failed, retries, dropped atomic.Int64
}

// endpoint is one receiver URL with its queue and worker.
type endpoint struct {
	url   string // as configured (may carry credentials): only for requests
	label string // for logs: scheme://host/path, no credentials or query
	queue chan delivery
}

type delivery struct {
	id, typ string
	body    []byte
}

// New validates opts and starts one worker per URL.
func New(opts Options) (*Sender, error) {
	if len(opts.URLs) == 0 {
		return nil, errors.New("webhook: no URLs configured")
	}
	if len(opts.Secret) < MinSecretLength {
		return nil, fmt.Errorf("webhook: the signing secret has %d bytes; use at least %d random bytes (e.g. openssl rand -base64 32)",
			len(opts.Secret), MinSecretLength)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = DefaultMaxAttempts
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = DefaultRetryBase
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = DefaultRetryMax
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Sleep == nil {
		opts.Sleep = sleep
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	client := &http.Client{}
	if opts.Client != nil {
		c := *opts.Client
		client = &c
	}
	// A redirect is the receiver's final answer: following it would send
	// the signed event somewhere nobody configured.
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	opts.Client = client
	opts.Secret = bytes.Clone(opts.Secret)

	s := &Sender{opts: opts, log: opts.Logger}
	for i, raw := range opts.URLs {
		label, err := checkURL(raw)
		if err != nil {
			return nil, fmt.Errorf("webhook: URL %d: %w", i+1, err)
		}
		s.endpoints = append(s.endpoints, &endpoint{url: raw, label: label, queue: make(chan delivery, opts.QueueSize)})
	}
	s.run, s.cancel = context.WithCancel(context.Background())
	for _, ep := range s.endpoints {
		s.wg.Add(1)
		go s.work(ep)
	}
	return s, nil
}

// checkURL accepts http(s) URLs with a host and returns the form safe to
// log.
func checkURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", errors.New("not a URL")
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%s://%s… must be an http:// or https:// URL with a host", u.Scheme, u.Host)
	}
	return u.Scheme + "://" + u.Host + u.EscapedPath(), nil
}

// Publish queues e for every URL and returns at once. An event that does
// not encode as JSON, or finds a queue full or the sender closed, is
// counted (Failed or Dropped) and logged, never returned to the caller:
// notifications must not fail the change they report.
func (s *Sender) Publish(ctx context.Context, e Event) {
	body, err := json.Marshal(e)
	if err != nil {
		s.failed.Add(int64(len(s.endpoints)))
		s.log.LogAttrs(ctx, slog.LevelError, "webhook: event does not encode as JSON",
			slog.String("event", e.Type), slog.String("event_id", e.ID), slog.Any("err", err))
		return
	}
	s.published.Add(1)
	d := delivery{id: e.ID, typ: e.Type, body: body}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, ep := range s.endpoints {
		if s.closed {
			s.drop(ctx, ep, d, "the sender is closed")
			continue
		}
		select {
		case ep.queue <- d:
		default:
			s.drop(ctx, ep, d, "queue full")
		}
	}
}

func (s *Sender) drop(ctx context.Context, ep *endpoint, d delivery, why string) {
	s.dropped.Add(1)
	s.log.LogAttrs(ctx, slog.LevelWarn, "webhook: event dropped", slog.String("why", why),
		slog.String("url", ep.label), slog.String("event", d.typ), slog.String("event_id", d.id))
}

// Stats returns the counters.
func (s *Sender) Stats() Stats {
	var q int64
	for _, ep := range s.endpoints {
		q += int64(len(ep.queue))
	}
	return Stats{Published: s.published.Load(), Delivered: s.delivered.Load(), Failed: s.failed.Load(),
		Retries: s.retries.Load(), Dropped: s.dropped.Load(), Queued: q}
}

// Close stops accepting events and waits for the queues to drain until ctx
// is done; then it abandons what is left (counted as dropped) and returns
// ctx's error.
func (s *Sender) Close(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		for _, ep := range s.endpoints {
			close(ep.queue)
		}
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.cancel()
		return nil
	case <-ctx.Done():
		s.cancel()
		<-done
		return fmt.Errorf("webhook: close: %w", ctx.Err())
	}
}

// work delivers ep's queue in order until it is closed.
func (s *Sender) work(ep *endpoint) {
	defer s.wg.Done()
	for d := range ep.queue {
		if s.run.Err() != nil {
			s.dropped.Add(1) // Close gave up waiting: abandon the backlog
			continue
		}
		s.deliver(ep, d)
	}
}

// deliver makes up to MaxAttempts attempts.
func (s *Sender) deliver(ep *endpoint, d delivery) {
	var last string
	for attempt := 1; ; attempt++ {
		wait, retry, err := s.attempt(ep, d, attempt)
		if err == nil {
			s.delivered.Add(1)
			s.log.LogAttrs(s.run, slog.LevelDebug, "webhook: delivered", slog.String("url", ep.label),
				slog.String("event", d.typ), slog.String("event_id", d.id), slog.Int("attempt", attempt))
			return
		}
		last = err.Error()
		if !retry || attempt >= s.opts.MaxAttempts || s.run.Err() != nil {
			break
		}
		if w := s.backoff(attempt); w > wait {
			wait = w
		}
		s.log.LogAttrs(s.run, slog.LevelWarn, "webhook: attempt failed, retrying", slog.String("url", ep.label),
			slog.String("event", d.typ), slog.String("event_id", d.id), slog.Int("attempt", attempt),
			slog.Duration("retry_in", wait), slog.String("err", last))
		if s.opts.Sleep(s.run, wait) != nil {
			break
		}
		s.retries.Add(1)
	}
	s.failed.Add(1)
	s.log.LogAttrs(s.run, slog.LevelError, "webhook: delivery failed", slog.String("url", ep.label),
		slog.String("event", d.typ), slog.String("event_id", d.id), slog.String("err", last))
}

// backoff is the wait after the given failed attempt: RetryBase doubled
// per attempt, capped at RetryMax.
func (s *Sender) backoff(attempt int) time.Duration {
	w := s.opts.RetryBase
	for i := 1; i < attempt && w < s.opts.RetryMax; i++ {
		w *= 2
	}
	return min(w, s.opts.RetryMax)
}

// attempt posts d once. It returns whether a failure may be retried and
// the wait the receiver asked for (Retry-After), capped at RetryMax.
func (s *Sender) attempt(ep *endpoint, d delivery, n int) (time.Duration, bool, error) {
	ctx, cancel := context.WithTimeout(s.run, s.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ep.url, bytes.NewReader(d.body))
	if err != nil {
		return 0, false, fmt.Errorf("building the request: %w", err)
	}
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "gatehouse-webhook")
	h.Set(EventHeader, d.typ)
	h.Set(EventIDHeader, d.id)
	h.Set(AttemptHeader, strconv.Itoa(n))
	h.Set(SignatureHeader, Sign(s.opts.Secret, s.opts.Clock.Now(), d.body))
	res, err := s.opts.Client.Do(req)
	if err != nil {
		// url.Error repeats the URL, which may carry credentials.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, true, fmt.Errorf("no answer within %s", s.opts.Timeout)
		}
		return 0, true, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, maxResponseBody))
	res.Body.Close()
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		return 0, false, nil
	}
	err = fmt.Errorf("answered %d %s", res.StatusCode, http.StatusText(res.StatusCode))
	switch c := res.StatusCode; {
	case c == http.StatusRequestTimeout, c == http.StatusTooEarly, c == http.StatusTooManyRequests, c >= 500:
		return retryAfter(res.Header.Get("Retry-After"), s.opts.Clock.Now(), s.opts.RetryMax), true, err
	}
	return 0, false, err
}

// retryAfter reads a Retry-After header (seconds or an HTTP date), capped.
func retryAfter(v string, now time.Time, limit time.Duration) time.Duration {
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return max(0, min(d, limit))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Sign returns the Gatehouse-Signature value for body sent at t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(secret, ts, body))
}

func mac(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Verification failures, for receivers (and tests) using Verify.
var (
	ErrNoSignature = errors.New("webhook: no " + SignatureHeader + " header")
	ErrMalformed   = errors.New("webhook: malformed " + SignatureHeader + " header")
	ErrStale       = errors.New("webhook: signature timestamp outside the tolerance")
	ErrMismatch    = errors.New("webhook: no signature matches the body")
)

// Verify checks a Gatehouse-Signature header against body: the timestamp
// must be within tolerance of now (either way), and one of the v1
// signatures (several may be present while a secret is being rotated) must
// match, compared in constant time.
func Verify(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	if header == "" {
		return ErrNoSignature
	}
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || k == "" {
			return fmt.Errorf("%w: %q is not key=value", ErrMalformed, part)
		}
		switch k {
		case "t":
			if ts != "" {
				return fmt.Errorf("%w: t appears twice", ErrMalformed)
			}
			ts = v
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				return fmt.Errorf("%w: v1 is not %d hex bytes", ErrMalformed, sha256.Size)
			}
			sigs = append(sigs, b)
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return fmt.Errorf("%w: want t=<unix seconds>,v1=<hex>", ErrMalformed)
	}
	if skew := now.Sub(time.Unix(unix, 0)); skew > tolerance || -skew > tolerance {
		return fmt.Errorf("%w: signed %s from now, tolerance %s", ErrStale, skew.Round(time.Second), tolerance)
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return ErrMismatch
}
