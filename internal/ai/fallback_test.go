package ai_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/ai"
	"gatehouse/internal/ai/aitest"
)

func twoTargets(first, second *aitest.Fake) []*ai.Model {
	return []*ai.Model{model("m",
		ai.Target{Provider: first.Provider("first"), Model: "one"},
		ai.Target{Provider: second.Provider("second"), Model: "two"})}
}

// TestFallback: a target failing before the first byte reached the client
// (429, 5xx, 529, timeout, reset, error event, broken 200) hands the call
// to the next target; the Result names both attempts.
func TestFallback(t *testing.T) {
	cases := []struct {
		name    string
		kind    aitest.Kind
		stream  bool
		first   aitest.Scenario
		status  int
		outcome string
	}{
		{"openai 429, plain", aitest.OpenAI, false, aitest.Scenario{Status: 429, RetryAfter: 3}, 429, ai.OutcomeError},
		{"openai 429, streamed", aitest.OpenAI, true, aitest.Scenario{Status: 429}, 429, ai.OutcomeError},
		{"openai 500", aitest.OpenAI, true, aitest.Scenario{Status: 500}, 500, ai.OutcomeError},
		{"anthropic 529 overloaded", aitest.Anthropic, true, aitest.Scenario{Status: 529}, 529, ai.OutcomeError},
		{"gemini 503", aitest.Gemini, false, aitest.Scenario{Status: 503}, 503, ai.OutcomeError},
		{"slow first byte: timeout", aitest.OpenAI, true, aitest.Scenario{Hold: make(chan struct{})}, 0, ai.OutcomeTimeout},
		{"slow first byte, plain: timeout", aitest.Anthropic, false, aitest.Scenario{Hold: make(chan struct{})}, 0, ai.OutcomeTimeout},
		{"connection reset before any event", aitest.OpenAI, true, aitest.Scenario{Text: "x", Fail: aitest.FailReset, FailAt: -1}, 200, ai.OutcomeUnreachable},
		{"anthropic error event before any event", aitest.Anthropic, true, aitest.Scenario{Text: "x", Fail: aitest.FailError, FailAt: -1}, 200, ai.OutcomeError},
		{"gemini error frame before any content", aitest.Gemini, true, aitest.Scenario{Text: "x", Fail: aitest.FailError, FailAt: -1}, 200, ai.OutcomeError},
		{"stream ends before it starts", aitest.OpenAI, true, aitest.Scenario{Text: "x", Fail: aitest.FailEOF, FailAt: -1}, 200, ai.OutcomeError},
		{"empty 200, plain", aitest.OpenAI, false, aitest.Scenario{Broken: true}, 200, ai.OutcomeError},
		{"anthropic empty 200", aitest.Anthropic, false, aitest.Scenario{Broken: true}, 200, ai.OutcomeError},
		{"gemini 200 without candidates", aitest.Gemini, false, aitest.Scenario{Broken: true}, 200, ai.OutcomeError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			first := aitest.New(t, tc.kind)
			first.Set(tc.first)
			second := aitest.New(t, aitest.Anthropic)
			second.Set(aitest.Scenario{Text: "From the second.", Usage: aitest.Usage{Input: 4, Output: 3}})
			g := newGateway(t, twoTargets(first, second), func(o *ai.Options) { o.FirstByteTimeout = 300 * time.Millisecond })
			resp, body := g.post(t, "/v1/chat/completions", chatBody("m", tc.stream, nil))
			res := g.result(t)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			var text string
			if tc.stream {
				s := readStream(t, body)
				text = s.text
				if len(s.errors) > 0 {
					t.Errorf("error events reached the client: %+v", s.errors[0])
				}
			} else {
				text = *decode[completion](t, body).Choices[0].Message.Content
			}
			if text != "From the second." {
				t.Errorf("text %q", text)
			}
			if len(res.Attempts) != 2 {
				t.Fatalf("attempts %+v", res.Attempts)
			}
			a, b := res.Attempts[0], res.Attempts[1]
			if a.Provider != "first" || a.Model != "one" || a.Status != tc.status || a.Outcome != tc.outcome || !a.FellBack {
				t.Errorf("first attempt %+v, want status %d outcome %s fell back", a, tc.status, tc.outcome)
			}
			if b.Provider != "second" || b.Model != "two" || b.Status != 200 || b.Outcome != ai.OutcomeOK || b.FellBack {
				t.Errorf("second attempt %+v", b)
			}
			if res.Provider != "second" || res.Usage.PromptTokens != 4 || res.Usage.CompletionTokens != 3 || res.Err != nil {
				t.Errorf("Result %+v", res)
			}
		})
	}
}

// TestNoFallbackAfterFirstByte: once a byte reached the client, a failure
// is passed through as an SSE error event carrying our code and request
// ID, the next target is never tried, and what was produced is settled.
func TestNoFallbackAfterFirstByte(t *testing.T) {
	cases := []struct {
		name string
		kind aitest.Kind
		fail aitest.Fail
	}{
		{"openai error chunk", aitest.OpenAI, aitest.FailError},
		{"openai connection reset", aitest.OpenAI, aitest.FailReset},
		{"openai ends without finish", aitest.OpenAI, aitest.FailEOF},
		{"anthropic error event", aitest.Anthropic, aitest.FailError},
		{"anthropic connection reset", aitest.Anthropic, aitest.FailReset},
		{"anthropic ends without message_stop", aitest.Anthropic, aitest.FailEOF},
		{"gemini error frame", aitest.Gemini, aitest.FailError},
		{"gemini ends without finishReason", aitest.Gemini, aitest.FailEOF},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			first := aitest.New(t, tc.kind)
			first.Set(aitest.Scenario{Chunks: []string{"Hello", " wor", "ld!"}, Fail: tc.fail, FailAt: 2, EchoKey: true})
			second := aitest.New(t, aitest.OpenAI)
			g := newGateway(t, twoTargets(first, second), nil)
			resp, body := g.post(t, "/v1/chat/completions", chatBody("m", true, nil))
			res := g.result(t)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			s := readStream(t, body)
			if s.text != "Hello wor" {
				t.Errorf("text before the failure %q", s.text)
			}
			if len(s.errors) != 1 {
				t.Fatalf("want one error event, got %d: %s", len(s.errors), body)
			}
			e := s.errors[0]
			rid := resp.Header.Get("X-Request-Id")
			if e.Code != ai.CodeProviderError || e.RequestID != rid || rid == "" || !strings.Contains(e.Message, ai.CodeProviderError) || !strings.Contains(e.Message, rid) {
				t.Errorf("error event %+v (request id %q)", e, rid)
			}
			if !s.done {
				t.Error("no [DONE] after the error event")
			}
			if n := len(second.Requests()); n != 0 {
				t.Errorf("second target tried %d times after the first byte", n)
			}
			if len(res.Attempts) != 1 || res.Attempts[0].Outcome != ai.OutcomeStreamError || res.Err == nil || res.Err.Code != ai.CodeProviderError || res.Status != 200 {
				t.Errorf("Result %+v", res)
			}
			// "Hello wor": 9 runes → 3 estimated completion tokens at least.
			if res.Usage.CompletionTokens < 3 || res.Cost <= 0 {
				t.Errorf("nothing settled: %+v cost %d", res.Usage, res.Cost)
			}
			for _, k := range first.Keys {
				if strings.Contains(string(body), k[:8]) || strings.Contains(res.Attempts[0].Error, k[:8]) {
					t.Errorf("provider key leaked into the error event or the Result")
				}
			}
		})
	}
}

// TestProviderErrors: failures that are not worth another target, and the
// answer when every target failed — in the OpenAI error shape with our
// code and request ID, never the provider's own 401 and never an empty 200.
func TestProviderErrors(t *testing.T) {
	cases := []struct {
		name     string
		first    aitest.Scenario
		second   *aitest.Scenario // nil: a single target
		status   int
		code     string
		param    string
		tried2   int
		retryHdr string
	}{
		{"provider 400 is the caller's: ai.bad_request with the provider's param, no fallback",
			aitest.Scenario{Status: 400}, &aitest.Scenario{Text: "never"}, 400, ai.CodeBadRequest, "temperature", 0, ""},
		{"provider 401 (our key is bad) is a 502, not the caller's 401",
			aitest.Scenario{Status: 401}, nil, 502, ai.CodeProviderError, "", 0, ""},
		{"all targets 429: 502 with Retry-After",
			aitest.Scenario{Status: 429, RetryAfter: 7}, &aitest.Scenario{Status: 429, RetryAfter: 7}, 502, ai.CodeProviderError, "", 1, "7"},
		{"single target empty 200: 502, never an empty 200",
			aitest.Scenario{Broken: true}, nil, 502, ai.CodeProviderError, "", 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			first := aitest.New(t, aitest.OpenAI)
			first.Set(tc.first)
			models := oneModel(first, "one")
			var second *aitest.Fake
			if tc.second != nil {
				second = aitest.New(t, aitest.OpenAI)
				second.Set(*tc.second)
				models = twoTargets(first, second)
			}
			g := newGateway(t, models, nil)
			resp, body := g.post(t, "/v1/chat/completions", chatBody("m", false, nil))
			res := g.result(t)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			e := decode[completion](t, body).Error
			rid := resp.Header.Get("X-Request-Id")
			if e == nil || e.Code != tc.code || e.RequestID != rid || !strings.Contains(e.Message, tc.code) || !strings.Contains(e.Message, rid) {
				t.Fatalf("error body %s", body)
			}
			if tc.param != "" && (e.Param == nil || *e.Param != tc.param) {
				t.Errorf("param %v, want %q", e.Param, tc.param)
			}
			if second != nil && len(second.Requests()) != tc.tried2 {
				t.Errorf("second target tried %d times, want %d", len(second.Requests()), tc.tried2)
			}
			if got := resp.Header.Get("Retry-After"); got != tc.retryHdr {
				t.Errorf("Retry-After %q, want %q", got, tc.retryHdr)
			}
			if res.Err == nil || res.Err.Code != tc.code || res.Status != tc.status {
				t.Errorf("Result %+v", res)
			}
		})
	}
}

// TestRejections: what the handler refuses before any provider is called,
// each in the OpenAI error shape naming the field.
func TestRejections(t *testing.T) {
	f := aitest.New(t, aitest.OpenAI)
	models := []*ai.Model{model("m", ai.Target{Provider: f.Provider("p"), Model: "x"}),
		model("secret-model", ai.Target{Provider: f.Provider("p"), Model: "y"})}
	g := newGateway(t, models, func(o *ai.Options) { o.MaxBody = 4096 })
	g.allow("m")
	cases := []struct {
		name   string
		method string
		path   string
		body   string
		status int
		code   string
		param  string
	}{
		{"unknown model", "POST", "/v1/chat/completions", `{"model":"nope","messages":[{"role":"user","content":"hi"}]}`, 404, ai.CodeModelUnknown, "model"},
		{"model not allowed", "POST", "/v1/chat/completions", `{"model":"secret-model","messages":[{"role":"user","content":"hi"}]}`, 403, ai.CodeModelNotAllowed, "model"},
		{"not JSON", "POST", "/v1/chat/completions", `{"model":`, 400, ai.CodeBadRequest, "body"},
		{"no model", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}]}`, 400, ai.CodeBadRequest, "model"},
		{"no messages", "POST", "/v1/chat/completions", `{"model":"m","messages":[]}`, 400, ai.CodeBadRequest, "messages"},
		{"bad role", "POST", "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"a"},{"role":"robot","content":"hi"}]}`, 400, ai.CodeBadRequest, "messages[1].role"},
		{"tool message without id", "POST", "/v1/chat/completions", `{"model":"m","messages":[{"role":"tool","content":"{}"}]}`, 400, ai.CodeBadRequest, "messages[0].tool_call_id"},
		{"bad content part", "POST", "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":[{"type":"video"}]}]}`, 400, ai.CodeBadRequest, "messages[0].content"},
		{"stream not a boolean", "POST", "/v1/chat/completions", `{"model":"m","stream":"yes","messages":[{"role":"user","content":"hi"}]}`, 400, ai.CodeBadRequest, "stream"},
		{"bad stop", "POST", "/v1/chat/completions", `{"model":"m","stop":5,"messages":[{"role":"user","content":"hi"}]}`, 400, ai.CodeBadRequest, "stop"},
		{"bad tool_choice", "POST", "/v1/chat/completions", `{"model":"m","tool_choice":"sometimes","messages":[{"role":"user","content":"hi"}]}`, 400, ai.CodeBadRequest, "tool_choice"},
		{"embeddings without input", "POST", "/v1/embeddings", `{"model":"m"}`, 400, ai.CodeBadRequest, "input"},
		{"embeddings bad encoding", "POST", "/v1/embeddings", `{"model":"m","input":"a","encoding_format":"int8"}`, 400, ai.CodeBadRequest, "encoding_format"},
		{"body too large", "POST", "/v1/chat/completions", `{"model":"m","messages":[{"role":"user","content":"` + strings.Repeat("a", 5000) + `"}]}`, 413, "request.too_large", ""},
		{"GET on chat", "GET", "/v1/chat/completions", ``, 405, "method.not_allowed", ""},
		{"unknown path", "POST", "/v1/completions", `{}`, 404, "route.not_found", ""},
		{"retrieve a model not allowed", "GET", "/v1/models/secret-model", ``, 403, ai.CodeModelNotAllowed, "model"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, g.URL+"/ai"+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer "+gatewayKey)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Error *errorJSON `json:"error"`
			}
			_ = jsonDecode(resp, &body)
			res := g.result(t)
			if resp.StatusCode != tc.status || body.Error == nil || body.Error.Code != tc.code {
				t.Fatalf("got %d %+v, want %d %s", resp.StatusCode, body.Error, tc.status, tc.code)
			}
			rid := resp.Header.Get("X-Request-Id")
			if body.Error.RequestID != rid || rid == "" || !strings.Contains(body.Error.Message, rid) {
				t.Errorf("request id: header %q body %+v", rid, body.Error)
			}
			if tc.param != "" && (body.Error.Param == nil || *body.Error.Param != tc.param) {
				t.Errorf("param %v, want %q", body.Error.Param, tc.param)
			}
			if res.Status != tc.status || res.Err == nil || res.Err.Code != tc.code || len(res.Attempts) != 0 {
				t.Errorf("Result %+v", res)
			}
		})
	}
	if n := len(f.Requests()); n != 0 {
		t.Errorf("the provider was called %d times for rejected requests", n)
	}
}

// TestStreamIdleTimeout: a stream that goes silent after its first byte
// ends with an error event once the idle timeout passes; no other target
// is tried.
func TestStreamIdleTimeout(t *testing.T) {
	first := aitest.New(t, aitest.Anthropic)
	first.Set(aitest.Scenario{Chunks: []string{"Hello", " there"}, Fail: aitest.FailHang, FailAt: 1})
	second := aitest.New(t, aitest.OpenAI)
	g := newGateway(t, twoTargets(first, second), func(o *ai.Options) { o.IdleTimeout = 200 * time.Millisecond })
	_, body := g.post(t, "/v1/chat/completions", chatBody("m", true, nil))
	res := g.result(t)
	s := readStream(t, body)
	if s.text != "Hello" || len(s.errors) != 1 || !strings.Contains(s.errors[0].Message, "timeout") {
		t.Fatalf("text %q errors %+v", s.text, s.errors)
	}
	if len(res.Attempts) != 1 || res.Attempts[0].Outcome != ai.OutcomeStreamError || len(second.Requests()) != 0 {
		t.Errorf("Result %+v", res)
	}
}

// TestMisconfiguredTargets: a catalogue that lets a broken target through
// (no provider, no key, unknown type) does not crash the handler: the
// target counts as a failed attempt and the next one answers; a model
// without targets is a provider error.
func TestMisconfiguredTargets(t *testing.T) {
	good := aitest.New(t, aitest.OpenAI)
	cat := rawCatalogue{
		"m": &ai.Model{Name: "m", Targets: []ai.Target{{Provider: nil, Model: "a"}, {Provider: &ai.Provider{Name: "nokey", Type: ai.TypeOpenAI}, Model: "b"},
			{Provider: &ai.Provider{Name: "odd", Type: "bedrock", APIKeys: []string{"k"}}, Model: "c"}, {Provider: good.Provider("good"), Model: "d"}}},
		"empty": &ai.Model{Name: "empty"},
	}
	h, err := ai.New(ai.Options{Catalogue: cat, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		model    string
		status   int
		attempts int
	}{{"m", 200, 4}, {"empty", 502, 0}} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(`{"model":"`+tc.model+`","messages":[{"role":"user","content":"hi"}]}`))
		res := h.Serve(w, r, ai.CallContext{RequestID: "01JD3V0000000000000000TEST"})
		if w.Code != tc.status || len(res.Attempts) != tc.attempts {
			t.Errorf("%s: %d, attempts %+v: %s", tc.model, w.Code, res.Attempts, w.Body)
		}
	}
}

type rawCatalogue map[string]*ai.Model

func (c rawCatalogue) Model(name string) (*ai.Model, bool) { m, ok := c[name]; return m, ok }
func (c rawCatalogue) Models() []*ai.Model {
	var out []*ai.Model
	for _, m := range c {
		out = append(out, m)
	}
	return out
}

// A target that answered 200 with something that is not an answer is
// named so in the caller's detail — "target 1: 200" read as a success.
func TestBrokenAnswerIsNamedInTheDetail(t *testing.T) {
	f := aitest.New(t, aitest.OpenAI)
	f.Set(aitest.Scenario{Broken: true})
	g := newGateway(t, oneModel(f, "x"), nil)
	resp, body := g.post(t, "/v1/chat/completions", chatBody("m", false, nil))
	g.result(t)
	if resp.StatusCode < 500 || !strings.Contains(string(body), "target 1: HTTP 200 with an answer the gateway could not use") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}
