package ai_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"gatehouse/internal/ai"
	"gatehouse/internal/ai/aitest"
)

// providerCase is one provider kind with the usage its fake reports and
// what that must become in OpenAI terms, with the exact cost at testPrice.
type providerCase struct {
	kind      aitest.Kind
	usage     aitest.Usage
	reasoning string
	want      ai.Usage
	cost      ai.Micros
}

var providerCases = []providerCase{
	{kind: aitest.OpenAI, usage: aitest.Usage{Input: 25, CachedInput: 10, Output: 12, Reasoning: 4},
		// 15 uncached × 2.5 + 10 cached × 1.25 + 12 out × 10 = 37.5 + 12.5 + 120 = 170 µ
		want: ai.Usage{PromptTokens: 25, CachedPromptTokens: 10, CompletionTokens: 12, ReasoningTokens: 4, TotalTokens: 37}, cost: 170},
	{kind: aitest.Azure, usage: aitest.Usage{Input: 25, CachedInput: 10, Output: 12, Reasoning: 4},
		want: ai.Usage{PromptTokens: 25, CachedPromptTokens: 10, CompletionTokens: 12, ReasoningTokens: 4, TotalTokens: 37}, cost: 170},
	{kind: aitest.Anthropic, usage: aitest.Usage{Input: 25, CachedInput: 10, CacheWrite: 5, Output: 12}, reasoning: "Let me think.",
		// prompt = 25 + 10 read + 5 written = 40; 25 × 2.5 + 10 × 1.25 + 5 × 2.5 + 12 × 10 = 207.5 → 208 µ (half-up)
		want: ai.Usage{PromptTokens: 40, CachedPromptTokens: 10, CacheWriteTokens: 5, CompletionTokens: 12, TotalTokens: 52}, cost: 208},
	{kind: aitest.Gemini, usage: aitest.Usage{Input: 25, CachedInput: 10, Output: 12, Reasoning: 7}, reasoning: "Thinking about it.",
		// completion = 12 candidates + 7 thoughts; 15 × 2.5 + 10 × 1.25 + 19 × 10 = 240 µ
		want: ai.Usage{PromptTokens: 25, CachedPromptTokens: 10, CompletionTokens: 19, ReasoningTokens: 7, TotalTokens: 44}, cost: 240},
}

func oneModel(f *aitest.Fake, target string) []*ai.Model {
	return []*ai.Model{model("m", ai.Target{Provider: f.Provider("p-" + string(f.Kind)), Model: target})}
}

// TestChatEachProvider: plain and streamed chat through each provider
// kind give the same text, the provider's usage to the token and the cost
// to the micro-unit.
func TestChatEachProvider(t *testing.T) {
	const text = "Hello from the fake, streaming in pieces — ünïcode too."
	for _, pc := range providerCases {
		t.Run(string(pc.kind), func(t *testing.T) {
			f := aitest.New(t, pc.kind)
			f.Set(aitest.Scenario{Text: text, Reasoning: pc.reasoning, Usage: pc.usage})
			g := newGateway(t, oneModel(f, "up-model"), nil)

			resp, body := g.post(t, "/v1/chat/completions", chatBody("m", false, nil))
			if resp.StatusCode != 200 {
				t.Fatalf("plain: %d %s", resp.StatusCode, body)
			}
			c := decode[completion](t, body)
			plain := g.result(t)
			if c.Object != "chat.completion" || len(c.Choices) != 1 || c.Choices[0].Message.Content == nil {
				t.Fatalf("plain body: %s", body)
			}
			if got := *c.Choices[0].Message.Content; got != text {
				t.Errorf("plain text %q, want %q", got, text)
			}
			if c.Choices[0].FinishReason != "stop" || c.Choices[0].Message.Role != "assistant" {
				t.Errorf("plain finish %q role %q", c.Choices[0].FinishReason, c.Choices[0].Message.Role)
			}
			if pc.reasoning != "" && c.Choices[0].Message.ReasoningContent != pc.reasoning {
				t.Errorf("plain reasoning %q", c.Choices[0].Message.ReasoningContent)
			}
			checkUsageJSON(t, "plain body", c.Usage, pc.want)
			if plain.Usage != pc.want || plain.Cost != pc.cost {
				t.Errorf("plain Result usage %+v cost %d, want %+v %d", plain.Usage, plain.Cost, pc.want, pc.cost)
			}
			if plain.Status != 200 || plain.Err != nil || len(plain.Attempts) != 1 || plain.Attempts[0].Outcome != ai.OutcomeOK {
				t.Errorf("plain Result %+v", plain)
			}

			resp, body = g.post(t, "/v1/chat/completions", chatBody("m", true, map[string]any{"stream_options": map[string]any{"include_usage": true}}))
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
				t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			s := readStream(t, body)
			res := g.result(t)
			if s.text != text {
				t.Errorf("streamed text %q != plain text %q", s.text, text)
			}
			if pc.reasoning != "" && s.reasoning != pc.reasoning {
				t.Errorf("streamed reasoning %q", s.reasoning)
			}
			if !s.done || s.finish != "stop" || len(s.errors) != 0 {
				t.Errorf("stream done=%v finish=%q errors=%v", s.done, s.finish, s.errors)
			}
			if len(s.usages) != 1 {
				t.Fatalf("want exactly one usage chunk, got %d", len(s.usages))
			}
			checkUsageJSON(t, "usage chunk", s.usages[0], pc.want)
			if res.Usage != pc.want || res.Cost != pc.cost {
				t.Errorf("stream Result usage %+v cost %d, want %+v %d", res.Usage, res.Cost, pc.want, pc.cost)
			}
			if res.Provider != "p-"+string(pc.kind) || res.Model != "up-model" || res.Alias != "m" || !res.Stream || res.TimeToFirstByte <= 0 {
				t.Errorf("stream Result %+v", res)
			}
			for _, ch := range s.chunks {
				if ch.Object != "chat.completion.chunk" || ch.ID == "" {
					t.Errorf("chunk without object/id: %+v", ch)
					break
				}
			}
		})
	}
}

func checkUsageJSON(t *testing.T, where string, u *usageJSON, want ai.Usage) {
	t.Helper()
	if u == nil {
		t.Errorf("%s: no usage", where)
		return
	}
	if u.PromptTokens != want.PromptTokens || u.CompletionTokens != want.CompletionTokens || u.TotalTokens != want.TotalTokens {
		t.Errorf("%s: usage %d/%d/%d, want %d/%d/%d", where, u.PromptTokens, u.CompletionTokens, u.TotalTokens,
			want.PromptTokens, want.CompletionTokens, want.TotalTokens)
	}
	if u.PromptTokensDetails == nil || u.PromptTokensDetails.CachedTokens != want.CachedPromptTokens {
		t.Errorf("%s: cached tokens %+v, want %d", where, u.PromptTokensDetails, want.CachedPromptTokens)
	}
	if want.ReasoningTokens > 0 && (u.CompletionTokensDetails == nil || u.CompletionTokensDetails.ReasoningTokens != want.ReasoningTokens) {
		t.Errorf("%s: reasoning tokens %+v, want %d", where, u.CompletionTokensDetails, want.ReasoningTokens)
	}
}

// TestUsageChunkOnlyWhenAsked: include_usage is forced upstream for
// OpenAI-type providers, and the extra chunk reaches the client only when
// it asked; the Result has the usage either way.
func TestUsageChunkOnlyWhenAsked(t *testing.T) {
	for _, pc := range providerCases {
		for _, ask := range []bool{false, true} {
			name := string(pc.kind) + map[bool]string{false: "/not-asked", true: "/asked"}[ask]
			t.Run(name, func(t *testing.T) {
				f := aitest.New(t, pc.kind)
				f.Set(aitest.Scenario{Text: "abc def", Usage: pc.usage})
				g := newGateway(t, oneModel(f, "x"), nil)
				extra := map[string]any{}
				if ask {
					extra["stream_options"] = map[string]any{"include_usage": true}
				}
				_, body := g.post(t, "/v1/chat/completions", chatBody("m", true, extra))
				s := readStream(t, body)
				res := g.result(t)
				want := 0
				if ask {
					want = 1
				}
				if len(s.usages) != want {
					t.Errorf("usage chunks %d, want %d", len(s.usages), want)
				}
				// Without the option OpenAI's chunks carry no usage member
				// at all — not the "usage": null of the forced option.
				if !ask && strings.Contains(string(body), `"usage"`) {
					t.Errorf("a client that did not ask for usage got a usage member:\n%s", body)
				}
				if res.Usage != pc.want {
					t.Errorf("Result usage %+v, want %+v", res.Usage, pc.want)
				}
				if pc.kind == aitest.OpenAI || pc.kind == aitest.Azure {
					so, _ := f.Requests()[0].JSON()["stream_options"].(map[string]any)
					if so["include_usage"] != true {
						t.Errorf("upstream stream_options %v: include_usage not forced", so)
					}
				}
			})
		}
	}
}

// TestUsageScenarios: each usage placement gives exact counts and cost.
func TestUsageScenarios(t *testing.T) {
	// Estimate of chatBody: 4 per message + ceil(9 runes / 4) = 7 prompt
	// tokens; "Hello from the fake." is 20 runes = 5 completion tokens;
	// cost 7 × 2.5 + 5 × 10 = 67.5 → 68 µ.
	estimated := ai.Usage{PromptTokens: 7, CompletionTokens: 5, TotalTokens: 12, Estimated: true}
	cases := []struct {
		name   string
		kind   aitest.Kind
		stream bool
		sc     aitest.Scenario
		want   ai.Usage
		cost   ai.Micros
	}{
		{"openai final chunk", aitest.OpenAI, true, aitest.Scenario{Text: "Hello from the fake.", Usage: aitest.Usage{Input: 13, Output: 12}},
			ai.Usage{PromptTokens: 13, CompletionTokens: 12, TotalTokens: 25}, 153}, // 32.5 + 120 = 152.5 → 153
		{"openai absent, streamed", aitest.OpenAI, true, aitest.Scenario{Text: "Hello from the fake.", UsageMode: aitest.UsageAbsent}, estimated, 68},
		{"openai absent, plain", aitest.OpenAI, false, aitest.Scenario{Text: "Hello from the fake.", UsageMode: aitest.UsageAbsent}, estimated, 68},
		{"anthropic absent, streamed", aitest.Anthropic, true, aitest.Scenario{Text: "Hello from the fake.", UsageMode: aitest.UsageAbsent}, estimated, 68},
		{"gemini absent, streamed", aitest.Gemini, true, aitest.Scenario{Text: "Hello from the fake.", UsageMode: aitest.UsageAbsent}, estimated, 68},
		{"gemini absent, plain", aitest.Gemini, false, aitest.Scenario{Text: "Hello from the fake.", UsageMode: aitest.UsageAbsent}, estimated, 68},
		{"openai cumulative in every chunk (take the last, not the sum)", aitest.OpenAI, true,
			aitest.Scenario{Text: "Hello from the fake.", Usage: aitest.Usage{Input: 13, Output: 12}, UsageMode: aitest.UsageEveryChunk},
			ai.Usage{PromptTokens: 13, CompletionTokens: 12, TotalTokens: 25}, 153},
		{"gemini cumulative in every frame", aitest.Gemini, true,
			aitest.Scenario{Text: "Hello from the fake.", Usage: aitest.Usage{Input: 13, Output: 12, Reasoning: 3}, UsageMode: aitest.UsageEveryChunk},
			ai.Usage{PromptTokens: 13, CompletionTokens: 15, ReasoningTokens: 3, TotalTokens: 28}, 183}, // 32.5 + 150 = 182.5 → 183
		{"anthropic two cumulative message_deltas", aitest.Anthropic, true,
			aitest.Scenario{Text: "Hello from the fake.", Usage: aitest.Usage{Input: 15, CachedInput: 10, Output: 12}, UsageMode: aitest.UsageEveryChunk},
			// Envoy's expectation: input 15 + cache read 10 → prompt 25, completion 12, total 37, cached 10
			ai.Usage{PromptTokens: 25, CachedPromptTokens: 10, CompletionTokens: 12, TotalTokens: 37}, 170},
		{"anthropic cache read and write", aitest.Anthropic, false,
			aitest.Scenario{Text: "Hello", Usage: aitest.Usage{Input: 3, CachedInput: 1000, CacheWrite: 2000, Output: 1}},
			// 3 × 2.5 + 1000 × 1.25 + 2000 × 2.5 + 1 × 10 = 7.5 + 1250 + 5000 + 10 = 6267.5 → 6268
			ai.Usage{PromptTokens: 3003, CachedPromptTokens: 1000, CacheWriteTokens: 2000, CompletionTokens: 1, TotalTokens: 3004}, 6268},
		{"gemini thoughts", aitest.Gemini, false,
			aitest.Scenario{Text: "Hello", Reasoning: "hmm", Usage: aitest.Usage{Input: 10, Output: 7, Reasoning: 100}},
			// completion = 7 + 100 thoughts; 25 + 1070 = 1095
			ai.Usage{PromptTokens: 10, CompletionTokens: 107, ReasoningTokens: 100, TotalTokens: 117}, 1095},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := aitest.New(t, tc.kind)
			f.Set(tc.sc)
			g := newGateway(t, oneModel(f, "x"), nil)
			resp, body := g.post(t, "/v1/chat/completions", chatBody("m", tc.stream, nil))
			res := g.result(t)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if res.Usage != tc.want {
				t.Errorf("usage %+v, want %+v", res.Usage, tc.want)
			}
			if res.Cost != tc.cost {
				t.Errorf("cost %d µ, want %d µ", res.Cost, tc.cost)
			}
		})
	}
}

// TestClientDisconnect: a client that leaves mid-stream still settles
// what was produced: the provider's counts where it sent them, an
// estimate (marked) for the rest.
func TestClientDisconnect(t *testing.T) {
	cases := []struct {
		name string
		kind aitest.Kind
		sc   aitest.Scenario
		want ai.Usage
		cost ai.Micros
	}{
		{"openai, usage only at the end: all estimated", aitest.OpenAI,
			aitest.Scenario{Chunks: []string{"Hello", " wor", "ld!"}, Usage: aitest.Usage{Input: 13, Output: 12}},
			// prompt 7 (estimate), "Hello wor" 9 runes → 3; 17.5 + 30 = 47.5 → 48
			ai.Usage{PromptTokens: 7, CompletionTokens: 3, TotalTokens: 10, Estimated: true}, 48},
		{"anthropic: input from message_start, output estimated", aitest.Anthropic,
			aitest.Scenario{Chunks: []string{"Hello", " wor", "ld!"}, Usage: aitest.Usage{Input: 25, CachedInput: 10, CacheWrite: 5, Output: 12}},
			// 62.5 + 12.5 + 12.5 + 3 × 10 = 117.5 → 118
			ai.Usage{PromptTokens: 40, CachedPromptTokens: 10, CacheWriteTokens: 5, CompletionTokens: 3, TotalTokens: 43, Estimated: true}, 118},
		{"openai cumulative usage: the last seen, exact", aitest.OpenAI,
			aitest.Scenario{Chunks: []string{"Hello", " wor", "ld!"}, Usage: aitest.Usage{Input: 25, CachedInput: 10, Output: 12}, UsageMode: aitest.UsageEveryChunk},
			// chunk 3 of 5 carries completion 12 × 3 / 5 = 7; 37.5 + 12.5 + 70 = 120
			ai.Usage{PromptTokens: 25, CachedPromptTokens: 10, CompletionTokens: 7, TotalTokens: 32}, 120},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := aitest.New(t, tc.kind)
			sc := tc.sc
			sc.Fail, sc.FailAt = aitest.FailHang, 2 // two text deltas, then silence
			f.Set(sc)
			b := &budget{}
			g := newGateway(t, oneModel(f, "x"), func(o *ai.Options) { o.Budget = b })
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			body, _ := json.Marshal(chatBody("m", true, nil))
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, g.URL+"/ai/v1/chat/completions", strings.NewReader(string(body)))
			req.Header.Set("Authorization", "Bearer "+gatewayKey)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			sc2 := bufio.NewScanner(resp.Body)
			var got string
			for got != "Hello wor" && sc2.Scan() {
				if d, ok := strings.CutPrefix(sc2.Text(), "data: "); ok {
					var c chunk
					_ = json.Unmarshal([]byte(d), &c)
					for _, ch := range c.Choices {
						got += ch.Delta.Content
					}
				}
			}
			if got != "Hello wor" {
				t.Fatalf("read %q before disconnecting", got)
			}
			cancel() // the client leaves
			resp.Body.Close()
			res := g.result(t)
			if !res.ClientClosed || res.Attempts[0].Outcome != ai.OutcomeClientClosed {
				t.Errorf("Result not marked client-closed: %+v", res)
			}
			if res.Usage != tc.want || res.Cost != tc.cost {
				t.Errorf("usage %+v cost %d, want %+v %d", res.Usage, res.Cost, tc.want, tc.cost)
			}
			b.mu.Lock()
			defer b.mu.Unlock()
			if len(b.settled) != 1 || b.settled[0].Usage != tc.want || b.settled[0].Cost != tc.cost || b.cancelled != 0 {
				t.Errorf("budget settled %+v (cancelled contexts %d)", b.settled, b.cancelled)
			}
		})
	}
}

// A Gemini answer without modelVersion names the target's model, not "":
// clients show and log the model field.
func TestGeminiWithoutModelVersionNamesTheTarget(t *testing.T) {
	f := aitest.New(t, aitest.Gemini)
	f.Set(aitest.Scenario{Text: "hi there", NoModel: true, Usage: aitest.Usage{Input: 3, Output: 2}})
	g := newGateway(t, oneModel(f, "gemini-2.5-flash"), nil)
	_, body := g.post(t, "/v1/chat/completions", chatBody("m", false, nil))
	g.result(t)
	if c := decode[completion](t, body); c.Model != "gemini-2.5-flash" {
		t.Errorf("plain answer model %q: %s", c.Model, body)
	}
	_, body = g.post(t, "/v1/chat/completions", chatBody("m", true, nil))
	g.result(t)
	s := readStream(t, body)
	if len(s.chunks) == 0 {
		t.Fatalf("no chunks: %s", body)
	}
	for _, c := range s.chunks {
		if c.Model != "gemini-2.5-flash" {
			t.Fatalf("a streamed chunk's model %q: %s", c.Model, body)
		}
	}
}
