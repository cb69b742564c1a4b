package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/clock"
)

var (
	t0     = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	secret = []byte("0123456789abcdef0123456789abcdef")
)

// received is one request as the receiver saw it.
type received struct {
	header http.Header
	body   []byte
	// verr is Verify's verdict on the signature, checked by the receiver
	// itself as a real one would.
	verr error
}

// receiver is a real HTTP server that verifies every delivery's signature
// and answers from a script (default 204).
type receiver struct {
	t   *testing.T
	srv *httptest.Server
	mu  sync.Mutex
	got []received
	// answer, when set, picks the answer to the n-th request (from 1).
	answer func(n int, w http.ResponseWriter, r *http.Request)
	now    func() time.Time
	arrive chan struct{} // one tick per request, buffered
}

func newReceiver(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	rc := &receiver{t: t, answer: answer, now: func() time.Time { return t0 }, arrive: make(chan struct{}, 1000)}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, received{header: r.Header.Clone(), body: b,
			verr: Verify(secret, r.Header.Get(SignatureHeader), b, rc.now(), 5*time.Minute)})
		n := len(rc.got)
		rc.mu.Unlock()
		rc.arrive <- struct{}{}
		if rc.answer != nil {
			rc.answer(n, w, r)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

// sleeps records the backoff waits instead of sleeping.
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.d)
}

func newSender(t *testing.T, o Options) (*Sender, *sleeps) {
	t.Helper()
	sl := &sleeps{}
	if o.Secret == nil {
		o.Secret = secret
	}
	o.Clock = clock.NewFake(t0)
	if o.Sleep == nil {
		o.Sleep = sl.sleep
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	return s, sl
}

// closeNow drains s (every queued delivery attempted) and returns its stats.
func closeNow(t *testing.T, s *Sender) Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return s.Stats()
}

func event(id string) Event {
	return Event{ID: id, Type: "subscription.approved", Time: t0,
		Data: map[string]any{"subscription": map[string]string{"id": "sub_1", "state": "approved"}}}
}

func TestDeliveredSignedJSON(t *testing.T) {
	rc := newReceiver(t, nil)
	s, _ := newSender(t, Options{URLs: []string{rc.srv.URL + "/hooks/gatehouse?token=abc"}})
	s.Publish(context.Background(), event("evt_1"))
	st := closeNow(t, s)
	got := rc.requests()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1", len(got))
	}
	r := got[0]
	if r.verr != nil {
		t.Fatalf("the receiver could not verify the signature: %v", r.verr)
	}
	for h, want := range map[string]string{
		"Content-Type": "application/json", EventHeader: "subscription.approved", EventIDHeader: "evt_1", AttemptHeader: "1",
		SignatureHeader: "t=" + strconv.FormatInt(t0.Unix(), 10) + ",v1=",
	} {
		if v := r.header.Get(h); !strings.HasPrefix(v, want) {
			t.Errorf("header %s = %q, want %q", h, v, want)
		}
	}
	var e struct {
		ID, Type string
		Time     time.Time
		Data     map[string]map[string]string
	}
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Fatal(err)
	}
	if e.ID != "evt_1" || e.Type != "subscription.approved" || !e.Time.Equal(t0) || e.Data["subscription"]["state"] != "approved" {
		t.Errorf("body %s", r.body)
	}
	if st != (Stats{Published: 1, Delivered: 1}) {
		t.Errorf("stats %+v", st)
	}
}

func TestRetries(t *testing.T) {
	status := func(codes ...int) func(int, http.ResponseWriter, *http.Request) {
		return func(n int, w http.ResponseWriter, _ *http.Request) {
			c := 204
			if n <= len(codes) {
				c = codes[n-1]
			}
			switch c {
			case 429:
				w.Header().Set("Retry-After", "7")
			case 503:
				w.Header().Set("Retry-After", "2")
			}
			w.WriteHeader(c)
		}
	}
	redirect := func(_ int, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://elsewhere.invalid/", http.StatusTemporaryRedirect)
	}
	cases := []struct {
		desc     string
		answer   func(int, http.ResponseWriter, *http.Request)
		attempts int
		waits    []time.Duration
		want     Stats
	}{
		{"5xx twice then success: backoff doubles", status(500, 502), 3, []time.Duration{time.Second, 2 * time.Second},
			Stats{Published: 1, Delivered: 1, Retries: 2}},
		{"always 500: gives up after MaxAttempts, backoff capped", status(500, 500, 500, 500), 4,
			[]time.Duration{time.Second, 2 * time.Second, 3 * time.Second}, Stats{Published: 1, Failed: 1, Retries: 3}},
		{"503 with Retry-After 2 waits longer than the 1s backoff", status(503), 2, []time.Duration{2 * time.Second},
			Stats{Published: 1, Delivered: 1, Retries: 1}},
		{"429 with Retry-After 7 waits at most RetryMax", status(429), 2, []time.Duration{3 * time.Second},
			Stats{Published: 1, Delivered: 1, Retries: 1}},
		{"408 is retried", status(408), 2, []time.Duration{time.Second}, Stats{Published: 1, Delivered: 1, Retries: 1}},
		{"400 is final", status(400), 1, nil, Stats{Published: 1, Failed: 1}},
		{"410 is final", status(410), 1, nil, Stats{Published: 1, Failed: 1}},
		{"a redirect is final and not followed", redirect, 1, nil, Stats{Published: 1, Failed: 1}},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			rc := newReceiver(t, c.answer)
			s, sl := newSender(t, Options{URLs: []string{rc.srv.URL}, MaxAttempts: 4, RetryMax: 3 * time.Second, RetryBase: time.Second})
			s.Publish(context.Background(), event("evt_r"))
			st := closeNow(t, s)
			got := rc.requests()
			if len(got) != c.attempts {
				t.Fatalf("%d attempts, want %d", len(got), c.attempts)
			}
			for i, r := range got {
				if r.verr != nil || r.header.Get(AttemptHeader) != strconv.Itoa(i+1) || r.header.Get(EventIDHeader) != "evt_r" {
					t.Errorf("attempt %d: verify %v, headers %v", i+1, r.verr, r.header)
				}
			}
			if w := sl.all(); !slices.Equal(w, c.waits) {
				t.Errorf("waits %v, want %v", w, c.waits)
			}
			if st != c.want {
				t.Errorf("stats %+v, want %+v", st, c.want)
			}
		})
	}
}

func TestTimeoutIsRetried(t *testing.T) {
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			<-r.Context().Done() // never answers: the sender's timeout ends it
			return
		}
		w.WriteHeader(200)
	})
	s, sl := newSender(t, Options{URLs: []string{rc.srv.URL}, Timeout: 100 * time.Millisecond})
	s.Publish(context.Background(), event("evt_t"))
	st := closeNow(t, s)
	if len(rc.requests()) != 2 || st.Delivered != 1 || st.Retries != 1 || len(sl.all()) != 1 {
		t.Fatalf("requests %d, stats %+v, waits %v", len(rc.requests()), st, sl.all())
	}
}

// TestPublishNeverBlocks holds the receiver on its first request: further
// events fill the queue, then are dropped and counted, and Publish returns
// at once throughout.
func TestPublishNeverBlocks(t *testing.T) {
	release := make(chan struct{})
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			<-release
		}
		w.WriteHeader(204)
	})
	const queue = 4
	s, _ := newSender(t, Options{URLs: []string{rc.srv.URL}, QueueSize: queue, Timeout: time.Minute})
	ctx := context.Background()
	s.Publish(ctx, event("evt_0"))
	<-rc.arrive // the worker holds evt_0; the queue is empty
	done := make(chan struct{})
	go func() {
		for i := 1; i <= queue+3; i++ {
			s.Publish(ctx, event("evt_"+strconv.Itoa(i)))
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish blocked while the receiver was stuck")
	}
	if st := s.Stats(); st.Dropped != 3 || st.Queued != queue {
		t.Fatalf("while stuck: %+v, want 3 dropped and %d queued", st, queue)
	}
	close(release)
	st := closeNow(t, s)
	if st.Delivered != queue+1 || st.Dropped != 3 || st.Published != queue+4 {
		t.Fatalf("stats %+v", st)
	}
	var order []string
	for _, r := range rc.requests() {
		order = append(order, r.header.Get(EventIDHeader))
	}
	if want := []string{"evt_0", "evt_1", "evt_2", "evt_3", "evt_4"}; !slices.Equal(order, want) {
		t.Fatalf("delivered %v, want %v in order", order, want)
	}
}

// TestReceiversAreIndependent: a URL where nothing listens does not delay
// a healthy one.
func TestReceiversAreIndependent(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()
	rc := newReceiver(t, nil)
	block := make(chan struct{})
	sl := func(ctx context.Context, d time.Duration) error {
		select { // the dead URL's retries wait until the test ends
		case <-block:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s, _ := newSender(t, Options{URLs: []string{dead, rc.srv.URL}, Sleep: sl, MaxAttempts: 2})
	s.Publish(context.Background(), event("evt_a"))
	s.Publish(context.Background(), event("evt_b"))
	for range 2 {
		select {
		case <-rc.arrive:
		case <-time.After(5 * time.Second):
			t.Fatal("the healthy receiver waited for the dead one")
		}
	}
	close(block)
	st := closeNow(t, s)
	if st.Delivered != 2 || st.Failed != 2 {
		t.Fatalf("stats %+v: want 2 delivered (healthy) and 2 failed (dead)", st)
	}
}

func TestCloseWithDeadlineAbandonsTheBacklog(t *testing.T) {
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) })
	s, err := New(Options{URLs: []string{rc.srv.URL}, Secret: secret, Clock: clock.NewFake(t0),
		Sleep: func(ctx context.Context, _ time.Duration) error { <-ctx.Done(); return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		s.Publish(context.Background(), event("evt_"+strconv.Itoa(i)))
	}
	<-rc.arrive // the first delivery failed once and now waits to retry
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Close(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close = %v, want the context's error", err)
	}
	st := s.Stats()
	if st.Failed != 1 || st.Dropped != 2 || st.Delivered != 0 {
		t.Fatalf("stats %+v: want the in-flight delivery failed and the 2 queued dropped", st)
	}
	s.Publish(context.Background(), event("evt_late"))
	if s.Stats().Dropped != 3 {
		t.Fatal("a Publish after Close was not counted as dropped")
	}
}

func TestNewValidates(t *testing.T) {
	cases := []struct {
		desc string
		o    Options
		want string
	}{
		{"no URLs", Options{Secret: secret}, "no URLs"},
		{"short secret", Options{URLs: []string{"http://x"}, Secret: []byte("short")}, "at least 16"},
		{"not http", Options{URLs: []string{"ftp://x/y"}, Secret: secret}, "http:// or https://"},
		{"no host", Options{URLs: []string{"http:///path"}, Secret: secret}, "with a host"},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			_, err := New(c.o)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New: %v, want an error saying %q", err, c.want)
			}
		})
	}
	t.Run("a URL's credentials never appear in the error", func(t *testing.T) {
		_, err := New(Options{URLs: []string{"gopher://user:hunter2@host/x?token=s3cret"}, Secret: secret})
		if err == nil || strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "s3cret") {
			t.Fatalf("error %v", err)
		}
	})
}

func TestVerify(t *testing.T) {
	body := []byte(`{"id":"evt_1"}`)
	good := Sign(secret, t0, body)
	other := Sign([]byte("another-secret-another-secret-xx"), t0, body)
	ts := strconv.FormatInt(t0.Unix(), 10)
	cases := []struct {
		desc   string
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"valid", good, body, t0, nil},
		{"valid within tolerance, receiver clock ahead", good, body, t0.Add(4 * time.Minute), nil},
		{"valid within tolerance, receiver clock behind", good, body, t0.Add(-4 * time.Minute), nil},
		{"rotation: one of two v1 matches", other + "," + good[strings.Index(good, "v1="):], body, t0, nil},
		{"spaces after commas are tolerated", strings.Replace(good, ",", ", ", 1), body, t0, nil},
		{"stale", good, body, t0.Add(6 * time.Minute), ErrStale},
		{"from the future", good, body, t0.Add(-6 * time.Minute), ErrStale},
		{"tampered body", good, []byte(`{"id":"evt_2"}`), t0, ErrMismatch},
		{"wrong secret", other, body, t0, ErrMismatch},
		{"timestamp changed after signing", strings.Replace(good, ts, strconv.FormatInt(t0.Unix()+1, 10), 1), body, t0, ErrMismatch},
		{"truncated MAC", good[:len(good)-2], body, t0, ErrMalformed},
		{"no v1", "t=" + ts, body, t0, ErrMalformed},
		{"no t", good[strings.Index(good, "v1="):], body, t0, ErrMalformed},
		{"two t", "t=" + ts + "," + good, body, t0, ErrMalformed},
		{"garbage", "sha256=abc", body, t0, ErrMalformed},
		{"empty", "", body, t0, ErrNoSignature},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			err := Verify(secret, c.header, c.body, c.now, 5*time.Minute)
			if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
				t.Fatalf("Verify = %v, want %v", err, c.want)
			}
		})
	}
}

func BenchmarkPublish(b *testing.B) {
	s, err := New(Options{URLs: []string{"http://127.0.0.1:9"}, Secret: secret, QueueSize: 1,
		Sleep: func(ctx context.Context, _ time.Duration) error { <-ctx.Done(); return ctx.Err() }})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = s.Close(ctx)
	}()
	e := event("evt_b")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		s.Publish(ctx, e)
	}
}
