package ai_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/ai"
	"gatehouse/internal/ai/aitest"
	"gatehouse/internal/reqid"
)

// gatewayKey is the Gatehouse key the test clients send; it must never
// reach a provider.
const gatewayKey = "gk_test_7Hq2xK9pLm3Q_secretpartthatmustnotleak"

// testPrice is gpt-4o's list price: $2.50 / $1.25 cached / $10.00 per 1M.
var testPrice = ai.Price{InputPer1M: 2_500_000, CachedInputPer1M: 1_250_000, OutputPer1M: 10_000_000}

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// gateway is the AI handler behind a real HTTP server, as the pipeline
// will mount it: prefix /ai, the caller already authenticated.
type gateway struct {
	*httptest.Server
	h       *ai.Handler
	results chan ai.Result
	logs    *syncBuffer
	mu      sync.Mutex
	allowed []string
}

// allow sets the consumer's allowed models for the next calls.
func (g *gateway) allow(models ...string) {
	g.mu.Lock()
	g.allowed = models
	g.mu.Unlock()
}

func newGateway(tb testing.TB, models []*ai.Model, opt func(*ai.Options)) *gateway {
	tb.Helper()
	cat, err := ai.NewCatalogue(models...)
	if err != nil {
		tb.Fatalf("catalogue: %v", err)
	}
	g := &gateway{results: make(chan ai.Result, 256), logs: &syncBuffer{}}
	o := ai.Options{Catalogue: cat, Logger: slog.New(slog.NewJSONHandler(g.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if opt != nil {
		opt(&o)
	}
	g.h, err = ai.New(o)
	if err != nil {
		tb.Fatalf("handler: %v", err)
	}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+gatewayKey {
			http.Error(w, "test gateway: wrong key", http.StatusUnauthorized)
			return
		}
		g.mu.Lock()
		allowed := g.allowed
		g.mu.Unlock()
		call := ai.CallContext{RequestID: reqid.New(time.Now()), ConsumerID: "c1", TenantID: "t1", Prefix: "/ai", AllowedModels: allowed}
		g.results <- g.h.Serve(w, r, call)
	}))
	tb.Cleanup(g.Close)
	return g
}

// result waits for the next call's Result.
func (g *gateway) result(tb testing.TB) ai.Result {
	tb.Helper()
	select {
	case r := <-g.results:
		return r
	case <-time.After(10 * time.Second):
		tb.Fatal("no Result from the handler")
		return ai.Result{}
	}
}

func (g *gateway) post(tb testing.TB, path string, body any) (*http.Response, []byte) {
	tb.Helper()
	b, ok := body.([]byte)
	if !ok {
		b, _ = json.Marshal(body)
	}
	req, _ := http.NewRequest(http.MethodPost, g.URL+"/ai"+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+gatewayKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("read %s: %v", path, err)
	}
	return resp, out
}

// model is a one-target model at the test price.
func model(name string, targets ...ai.Target) *ai.Model {
	return &ai.Model{Name: name, Targets: targets, Price: testPrice}
}

// sseData returns the data payloads of an SSE body, in order.
func sseData(tb testing.TB, body []byte) []string {
	tb.Helper()
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 8<<20)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, d)
		}
	}
	return out
}

// chunk is the part of an OpenAI chunk the tests read.
type chunk struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Role             string `json:"role"`
			Content          string `json:"content"`
			ReasoningContent string `json:"reasoning_content"`
			ToolCalls        []struct {
				Index    int    `json:"index"`
				ID       string `json:"id"`
				Type     string `json:"type"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *usageJSON `json:"usage"`
	Error *errorJSON `json:"error"`
}

type usageJSON struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	TotalTokens         int64 `json:"total_tokens"`
	PromptTokensDetails *struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails *struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
}

type errorJSON struct {
	Message   string  `json:"message"`
	Type      string  `json:"type"`
	Code      string  `json:"code"`
	Param     *string `json:"param"`
	RequestID string  `json:"request_id"`
}

// streamed is a stream read back: its text, tool calls, finish reason,
// usage chunks and error events.
type streamed struct {
	chunks    []chunk
	text      string
	reasoning string
	tools     map[int]*toolCall
	finish    string
	usages    []*usageJSON
	errors    []*errorJSON
	done      bool
}

type toolCall struct{ ID, Name, Args string }

func readStream(tb testing.TB, body []byte) streamed {
	tb.Helper()
	s := streamed{tools: map[int]*toolCall{}}
	for _, d := range sseData(tb, body) {
		if d == "[DONE]" {
			s.done = true
			continue
		}
		var c chunk
		if err := json.Unmarshal([]byte(d), &c); err != nil {
			tb.Fatalf("chunk %q: %v", d, err)
		}
		s.chunks = append(s.chunks, c)
		if c.Error != nil {
			s.errors = append(s.errors, c.Error)
			continue
		}
		if c.Usage != nil {
			s.usages = append(s.usages, c.Usage)
		}
		for _, ch := range c.Choices {
			s.text += ch.Delta.Content
			s.reasoning += ch.Delta.ReasoningContent
			for _, tc := range ch.Delta.ToolCalls {
				t := s.tools[tc.Index]
				if t == nil {
					t = &toolCall{}
					s.tools[tc.Index] = t
				}
				if tc.ID != "" {
					t.ID = tc.ID
				}
				t.Name += tc.Function.Name
				t.Args += tc.Function.Arguments
			}
			if ch.FinishReason != nil {
				s.finish = *ch.FinishReason
			}
		}
	}
	return s
}

// completion is the part of a chat.completion the tests read.
type completion struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Role             string  `json:"role"`
			Content          *string `json:"content"`
			ReasoningContent string  `json:"reasoning_content"`
			ToolCalls        []struct {
				ID       string `json:"id"`
				Type     string `json:"type"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage *usageJSON `json:"usage"`
	Error *errorJSON `json:"error"`
}

func decode[T any](tb testing.TB, b []byte) T {
	tb.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		tb.Fatalf("decode %s: %v", b, err)
	}
	return v
}

// fakes starts one fake of each kind with the given scenario.
func fakes(tb testing.TB) map[aitest.Kind]*aitest.Fake {
	m := map[aitest.Kind]*aitest.Fake{}
	for _, k := range []aitest.Kind{aitest.OpenAI, aitest.Azure, aitest.Anthropic, aitest.Gemini} {
		m[k] = aitest.New(tb, k)
	}
	return m
}

var kinds = []aitest.Kind{aitest.OpenAI, aitest.Azure, aitest.Anthropic, aitest.Gemini}

func chatBody(model string, stream bool, extra map[string]any) map[string]any {
	b := map[string]any{"model": model, "messages": []any{map[string]any{"role": "user", "content": "Say hello"}}}
	if stream {
		b["stream"] = true
	}
	for k, v := range extra {
		b[k] = v
	}
	return b
}

func jsonDecode(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }
