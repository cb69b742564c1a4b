// Package aitest runs fake AI providers for tests: real HTTP servers on
// loopback (httptest) that speak the OpenAI, Azure OpenAI, Anthropic and
// Gemini wire formats of ai-wire-formats.md §2 — JSON answers, SSE
// streams, error bodies and auth headers — driven by a Scenario (text,
// tool calls, usage placement, errors, mid-stream failures, framing quirks,
// slow first byte), and recording every request they receive.
//
// The fakes are written from the reference, independently of the gateway's
// translation code, so a test of the gateway against them is a test of the
// translation; their fidelity is checked by pointing the official openai-go
// SDK straight at the OpenAI fake.
package aitest

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"gatehouse/internal/ai"
)

// Kind is the wire format a fake speaks.
type Kind string

// Kinds of fake.
const (
	OpenAI    Kind = "openai"
	Azure     Kind = "azure-openai"
	Anthropic Kind = "anthropic"
	Gemini    Kind = "gemini"
)

// Usage is what a fake reports, in provider-neutral terms; each fake puts
// the numbers where its provider does:
//
//	            OpenAI                     Anthropic                      Gemini
//	Input       prompt_tokens (all)        input_tokens (uncached only)   promptTokenCount (all)
//	CachedInput cached_tokens              cache_read_input_tokens        cachedContentTokenCount
//	CacheWrite  —                          cache_creation_input_tokens    —
//	Output      completion_tokens (all)    output_tokens                  candidatesTokenCount (no thoughts)
//	Reasoning   reasoning_tokens           —                              thoughtsTokenCount
type Usage struct {
	Input, CachedInput, CacheWrite, Output, Reasoning int64
}

// UsageMode says where a stream reports usage.
type UsageMode int

// Usage placements.
const (
	// UsageFinal: OpenAI's extra choices:[] chunk (only when the request
	// asked stream_options.include_usage), Anthropic's message_start +
	// one message_delta, Gemini's last frame.
	UsageFinal UsageMode = iota
	// UsageAbsent: no usage anywhere.
	UsageAbsent
	// UsageEveryChunk: cumulative usage in every chunk (DeepSeek, Gemini
	// OpenAI-compat), two cumulative message_deltas for Anthropic.
	UsageEveryChunk
)

// Fail is a failure injected into a stream.
type Fail int

// Stream failures.
const (
	FailNone Fail = iota
	// FailError sends the provider's in-stream error event.
	FailError
	// FailReset resets the TCP connection.
	FailReset
	// FailHang stops sending and waits until the request is cancelled.
	FailHang
	// FailEOF ends the body cleanly without the stream's end marker.
	FailEOF
)

// ToolCall is a tool call a fake answers with.
type ToolCall struct {
	ID   string // OpenAI/Anthropic id (Gemini sends none)
	Name string
	Args string // JSON object text
}

// Scenario drives one answer.
type Scenario struct {
	Model string // reported model (default: the requested one)
	// NoModel leaves the model out of the answer (Gemini may omit
	// modelVersion).
	NoModel bool
	Text    string   // answer text
	Chunks  []string // stream pieces (default: Text split every 4 runes)
	// Reasoning is thinking text: OpenAI-compatible reasoning_content,
	// Anthropic thinking block, Gemini thought part.
	Reasoning string
	ToolCalls []ToolCall
	Usage     Usage
	UsageMode UsageMode

	// Status answers an error with the provider's error body (401, 429,
	// 500, 529…); RetryAfter adds retry-after.
	Status     int
	RetryAfter int
	// EchoKey puts the caller's key, whole and masked, in the error text,
	// as some providers and proxies do.
	EchoKey bool
	// Broken answers 200 with a body that is not an answer.
	Broken bool

	// Fail injects a stream failure after FailAt content chunks (-1:
	// before the first event).
	Fail   Fail
	FailAt int

	// Framing quirks: CRLF line endings, every frame written in 3-byte
	// pieces with a flush each, `: keep-alive` comments between frames,
	// `field:value` without the space.
	CRLF, Split, Comments, NoSpace bool

	// Hold delays the response headers until it is closed or the request
	// is cancelled (slow first byte).
	Hold chan struct{}
	// Pace waits this long after each stream frame (slow drip).
	Pace time.Duration
	// Stamp replaces each text chunk, when it is sent, by "t<unix ns> ", so
	// a benchmark can measure each chunk's latency to the client.
	Stamp bool
}

// StampOf finds the send time a stamped chunk carries (0 when none).
func StampOf(s string) int64 {
	i := strings.Index(s, "t1")
	if i < 0 {
		return 0
	}
	var n int64
	for _, c := range s[i+1:] {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// piece returns a chunk's text as sent now.
func (x *exchange) piece(c string) string {
	if x.sc.Stamp {
		return "t" + strconv.FormatInt(time.Now().UnixNano(), 10) + " "
	}
	return c
}

// Request is what a fake received.
type Request struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   []byte
}

// JSON decodes the body.
func (r Request) JSON() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(r.Body, &m)
	return m
}

// Fake is one fake provider server.
type Fake struct {
	*httptest.Server
	Kind Kind
	// Keys are the credentials the fake accepts.
	Keys []string

	mu       sync.Mutex
	script   func(Request) Scenario
	requests []Request
	seq      int
}

// New starts a fake of kind with the given accepted keys (one is generated
// when none is given); it is closed when the test ends.
func New(tb testing.TB, kind Kind, keys ...string) *Fake {
	tb.Helper()
	if len(keys) == 0 {
		keys = []string{DefaultKey(kind)}
	}
	f := &Fake{Kind: kind, Keys: keys}
	f.script = func(Request) Scenario {
		return Scenario{Text: "Hello from the fake.", Usage: Usage{Input: 10, Output: 5}}
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	tb.Cleanup(f.Close)
	return f
}

// DefaultKey is a key in the provider's real shape, so redaction by shape
// is exercised too.
func DefaultKey(kind Kind) string {
	switch kind {
	case Anthropic:
		return "sk-ant-api03-FAKEfakeFAKEfake0123456789abcdefXYZ"
	case Gemini:
		return "AIzaSyFAKEfakeFAKEfake0123456789abcde"
	case Azure:
		return "0123456789abcdef0123456789abcdef"
	}
	return "sk-proj-FAKEfakeFAKEfake0123456789abcdef"
}

// Set makes every request answer s.
func (f *Fake) Set(s Scenario) { f.Script(func(Request) Scenario { return s }) }

// Script makes each request answer what fn returns for it.
func (f *Fake) Script(fn func(Request) Scenario) {
	f.mu.Lock()
	f.script = fn
	f.mu.Unlock()
}

// Requests returns the requests received so far.
func (f *Fake) Requests() []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Request(nil), f.requests...)
}

// Provider returns an ai.Provider pointing at the fake.
func (f *Fake) Provider(name string) *ai.Provider {
	p := &ai.Provider{Name: name, Type: string(f.Kind), BaseURL: f.URL, APIKeys: f.Keys}
	if f.Kind == OpenAI {
		p.BaseURL = f.URL + "/v1"
	}
	return p
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	req := Request{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body}
	f.mu.Lock()
	f.requests = append(f.requests, req)
	f.seq++
	seq := f.seq
	sc := f.script(req)
	f.mu.Unlock()
	if sc.Hold != nil {
		select {
		case <-sc.Hold:
		case <-r.Context().Done():
			return
		}
	}
	x := &exchange{f: f, w: w, r: r, req: req, sc: sc, id: fmt.Sprintf("%s-%d", f.Kind, seq)}
	switch f.Kind {
	case OpenAI, Azure:
		x.openai()
	case Anthropic:
		x.anthropic()
	case Gemini:
		x.gemini()
	}
}

// exchange is one request being answered.
type exchange struct {
	f   *Fake
	w   http.ResponseWriter
	r   *http.Request
	req Request
	sc  Scenario
	id  string
	key string // the key the caller sent
}

func (x *exchange) json(status int, v any) {
	b, _ := json.Marshal(v)
	x.w.Header().Set("Content-Type", "application/json")
	x.w.WriteHeader(status)
	_, _ = x.w.Write(b)
}

func (x *exchange) accepted(k string) bool {
	x.key = k
	for _, a := range x.f.Keys {
		if k == a {
			return true
		}
	}
	return false
}

func (x *exchange) model(requested string) string {
	if x.sc.Model != "" {
		return x.sc.Model
	}
	return requested
}

func (x *exchange) chunks() []string {
	if x.sc.Chunks != nil {
		return x.sc.Chunks
	}
	var out []string
	s := x.sc.Text
	for s != "" {
		n, i := 0, 0
		for i < len(s) && n < 4 {
			_, sz := utf8.DecodeRuneInString(s[i:])
			i += sz
			n++
		}
		out = append(out, s[:i])
		s = s[i:]
	}
	return out
}

func (x *exchange) text() string {
	if x.sc.Chunks != nil {
		return strings.Join(x.sc.Chunks, "")
	}
	return x.sc.Text
}

// errMessage is the provider's error text, echoing the key when asked.
func (x *exchange) errMessage(def string) string {
	if x.sc.EchoKey && len(x.key) > 8 {
		return fmt.Sprintf("%s (key %s, also known as %s****%s)", def, x.key, x.key[:8], x.key[len(x.key)-4:])
	}
	return def
}

// sse writes frames with the scenario's framing quirks.
type sseWriter struct {
	w  http.ResponseWriter
	sc *Scenario
}

func (x *exchange) sseStart() *sseWriter {
	h := x.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	x.w.WriteHeader(http.StatusOK)
	x.w.(http.Flusher).Flush()
	return &sseWriter{w: x.w, sc: &x.sc}
}

func (s *sseWriter) frame(event string, data []byte) {
	if s.sc.Pace > 0 {
		defer time.Sleep(s.sc.Pace) // after the write: a stamp is taken just before it
	}
	eol, sep := "\n", ": "
	if s.sc.CRLF {
		eol = "\r\n"
	}
	if s.sc.NoSpace {
		sep = ":"
	}
	var b strings.Builder
	if s.sc.Comments {
		b.WriteString(": keep-alive" + eol + eol)
	}
	if event != "" {
		b.WriteString("event" + sep + event + eol)
	}
	b.WriteString("data" + sep)
	b.Write(data)
	b.WriteString(eol + eol)
	s.write(b.String())
}

func (s *sseWriter) write(str string) {
	if !s.sc.Split {
		_, _ = io.WriteString(s.w, str)
		s.w.(http.Flusher).Flush()
		return
	}
	for len(str) > 0 {
		n := min(3, len(str))
		_, _ = io.WriteString(s.w, str[:n])
		s.w.(http.Flusher).Flush()
		str = str[n:]
	}
}

// failNow applies the scenario's failure if its point is reached; it
// returns true when the stream must end.
func (x *exchange) failNow(s *sseWriter, sent int, errorFrame func()) bool {
	if x.sc.Fail == FailNone || sent != x.sc.FailAt {
		return false
	}
	switch x.sc.Fail {
	case FailError:
		errorFrame()
	case FailReset:
		x.reset()
	case FailHang:
		<-x.r.Context().Done()
	case FailEOF:
	}
	return true
}

// reset aborts the TCP connection with RST.
func (x *exchange) reset() {
	hj, ok := x.w.(http.Hijacker)
	if !ok {
		return // HTTP/2: cannot happen on httptest's HTTP/1.1 server
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

// embedding is a deterministic vector for a text, exactly representable
// in float32 (multiples of 1/64) so float and base64 answers compare
// exactly.
func embedding(text string, dims int) []float32 {
	if dims <= 0 {
		dims = 4
	}
	v := make([]float32, dims)
	for k := range v {
		v[k] = float32(k+1)/8 + float32(len(text)%8)/64
	}
	return v
}

func base64Floats(fs []float32) string {
	b := make([]byte, 4*len(fs))
	for i, f := range fs {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return base64.StdEncoding.EncodeToString(b)
}

// Embedding is the vector the fakes answer for text (for assertions).
func Embedding(text string, dims int) []float32 { return embedding(text, dims) }
