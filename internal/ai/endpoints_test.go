package ai_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/ai"
	"gatehouse/internal/ai/aitest"
	"gatehouse/internal/reason"
)

var weatherTools = []any{
	map[string]any{"type": "function", "function": map[string]any{"name": "get_weather", "description": "Weather of a city",
		"parameters": map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []string{"city"}}}},
	map[string]any{"type": "function", "function": map[string]any{"name": "get_time", "parameters": map[string]any{"type": "object", "properties": map[string]any{}}}},
}

// TestToolCalls: parallel tool calls (one with empty arguments) come back
// as OpenAI tool_calls, plain and streamed; the second turn (assistant
// tool_calls + tool results) reaches each provider in its own shape.
func TestToolCalls(t *testing.T) {
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			f := aitest.New(t, kind)
			calls := []aitest.ToolCall{{ID: "toolu_01A", Name: "get_weather", Args: `{"city":"Paris"}`}, {ID: "toolu_01B", Name: "get_time", Args: `{}`}}
			f.Set(aitest.Scenario{ToolCalls: calls, Usage: aitest.Usage{Input: 50, Output: 20}})
			g := newGateway(t, oneModel(f, "x"), nil)
			ask := chatBody("m", false, map[string]any{"tools": weatherTools, "tool_choice": "auto"})
			_, body := g.post(t, "/v1/chat/completions", ask)
			g.result(t)
			c := decode[completion](t, body)
			msg := c.Choices[0].Message
			if c.Choices[0].FinishReason != "tool_calls" || len(msg.ToolCalls) != 2 || msg.Content != nil {
				t.Fatalf("plain answer %s", body)
			}
			for i, tc := range msg.ToolCalls {
				if tc.Type != "function" || tc.Function.Name != calls[i].Name || !jsonEqual(tc.Function.Arguments, calls[i].Args) {
					t.Errorf("tool call %d: %+v", i, tc)
				}
				if kind == aitest.Gemini && !strings.HasPrefix(tc.ID, "call_") || kind != aitest.Gemini && tc.ID != calls[i].ID {
					t.Errorf("tool call %d id %q", i, tc.ID)
				}
			}
			if kind == aitest.Gemini && msg.ToolCalls[0].ID == msg.ToolCalls[1].ID {
				t.Error("generated ids are not unique")
			}

			ask["stream"] = true
			_, sbody := g.post(t, "/v1/chat/completions", ask)
			g.result(t)
			s := readStream(t, sbody)
			if s.finish != "tool_calls" || len(s.tools) != 2 {
				t.Fatalf("streamed answer: finish %q tools %d\n%s", s.finish, len(s.tools), sbody)
			}
			for i := range 2 {
				tc := s.tools[i]
				if tc == nil || tc.Name != calls[i].Name || !jsonEqual(tc.Args, calls[i].Args) || tc.ID == "" {
					t.Errorf("streamed tool call %d: %+v", i, tc)
				}
			}

			// Second turn: the tool results.
			f.Set(aitest.Scenario{Text: "It is 21 degrees at noon.", Usage: aitest.Usage{Input: 80, Output: 9}})
			id0, id1 := msg.ToolCalls[0].ID, msg.ToolCalls[1].ID
			turn := map[string]any{"model": "m", "tools": weatherTools, "messages": []any{
				map[string]any{"role": "system", "content": "Be terse."},
				map[string]any{"role": "user", "content": "Weather in Paris, and the time?"},
				map[string]any{"role": "assistant", "content": nil, "tool_calls": []any{
					map[string]any{"id": id0, "type": "function", "function": map[string]any{"name": "get_weather", "arguments": `{"city":"Paris"}`}},
					map[string]any{"id": id1, "type": "function", "function": map[string]any{"name": "get_time", "arguments": ""}}}},
				map[string]any{"role": "tool", "tool_call_id": id0, "content": `{"temp":21}`},
				map[string]any{"role": "tool", "tool_call_id": id1, "content": "noon"},
			}}
			resp, body := g.post(t, "/v1/chat/completions", turn)
			g.result(t)
			if resp.StatusCode != 200 || *decode[completion](t, body).Choices[0].Message.Content != "It is 21 degrees at noon." {
				t.Fatalf("second turn: %d %s", resp.StatusCode, body)
			}
			reqs := f.Requests()
			got := reqs[len(reqs)-1].JSON()
			checkSecondTurn(t, kind, got, id0, id1)
		})
	}
}

// checkSecondTurn asserts the provider-shaped second turn.
func checkSecondTurn(t *testing.T, kind aitest.Kind, got map[string]any, id0, id1 string) {
	t.Helper()
	var want map[string]any
	switch kind {
	case aitest.Anthropic:
		want = map[string]any{"system": "Be terse.", "messages": []any{
			map[string]any{"role": "user", "content": []any{map[string]any{"type": "text", "text": "Weather in Paris, and the time?"}}},
			map[string]any{"role": "assistant", "content": []any{
				map[string]any{"type": "tool_use", "id": id0, "name": "get_weather", "input": map[string]any{"city": "Paris"}},
				map[string]any{"type": "tool_use", "id": id1, "name": "get_time", "input": map[string]any{}}}},
			map[string]any{"role": "user", "content": []any{
				map[string]any{"type": "tool_result", "tool_use_id": id0, "content": `{"temp":21}`},
				map[string]any{"type": "tool_result", "tool_use_id": id1, "content": "noon"}}},
		}}
		if got["max_tokens"] != float64(ai.DefaultMaxOutputTokens) {
			t.Errorf("max_tokens %v", got["max_tokens"])
		}
		tools, _ := got["tools"].([]any)
		if len(tools) != 2 || tools[0].(map[string]any)["input_schema"] == nil {
			t.Errorf("tools %v", got["tools"])
		}
	case aitest.Gemini:
		want = map[string]any{"systemInstruction": map[string]any{"parts": []any{map[string]any{"text": "Be terse."}}}, "contents": []any{
			map[string]any{"role": "user", "parts": []any{map[string]any{"text": "Weather in Paris, and the time?"}}},
			map[string]any{"role": "model", "parts": []any{
				map[string]any{"functionCall": map[string]any{"name": "get_weather", "args": map[string]any{"city": "Paris"}}},
				map[string]any{"functionCall": map[string]any{"name": "get_time", "args": map[string]any{}}}}},
			map[string]any{"role": "user", "parts": []any{
				map[string]any{"functionResponse": map[string]any{"name": "get_weather", "response": map[string]any{"temp": float64(21)}}},
				map[string]any{"functionResponse": map[string]any{"name": "get_time", "response": map[string]any{"result": "noon"}}}}},
		}}
		tools, _ := got["tools"].([]any)
		if len(tools) != 1 || len(tools[0].(map[string]any)["functionDeclarations"].([]any)) != 2 {
			t.Errorf("tools %v", got["tools"])
		}
	default: // OpenAI-type providers get the client's messages as sent
		msgs, _ := got["messages"].([]any)
		if len(msgs) != 5 || msgs[3].(map[string]any)["tool_call_id"] != id0 {
			t.Errorf("messages %v", got["messages"])
		}
		return
	}
	for k, v := range want {
		if !reflect.DeepEqual(got[k], v) {
			gb, _ := json.Marshal(got[k])
			wb, _ := json.Marshal(v)
			t.Errorf("%s:\n got %s\nwant %s", k, gb, wb)
		}
	}
}

func jsonEqual(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// TestStreamFraming: CRLF line endings, frames split into 3-byte writes,
// keep-alive comments, `field:value` without the space and a 1 MB line
// all come through with the same text.
func TestStreamFraming(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	for _, kind := range kinds {
		for _, sc := range []aitest.Scenario{
			{Chunks: []string{"Hel", "lo, ", "wörld"}, CRLF: true, Split: true, Comments: true, NoSpace: true},
			{Chunks: []string{"start ", big, " end"}, CRLF: true},
		} {
			want := strings.Join(sc.Chunks, "")
			t.Run(string(kind), func(t *testing.T) {
				f := aitest.New(t, kind)
				sc.Usage = aitest.Usage{Input: 3, Output: 4}
				f.Set(sc)
				g := newGateway(t, oneModel(f, "x"), nil)
				_, body := g.post(t, "/v1/chat/completions", chatBody("m", true, nil))
				res := g.result(t)
				s := readStream(t, body)
				if s.text != want || !s.done || len(s.errors) != 0 {
					t.Errorf("text of %d bytes (want %d), done %v, errors %v", len(s.text), len(want), s.done, s.errors)
				}
				if res.Usage.PromptTokens != 3 || res.Usage.CompletionTokens != 4 || res.Usage.Estimated {
					t.Errorf("usage %+v", res.Usage)
				}
			})
		}
	}
}

// TestEmbeddings: each provider kind with embeddings, float and base64;
// Gemini reports no usage, so its usage is estimated and marked.
func TestEmbeddings(t *testing.T) {
	cases := []struct {
		kind   aitest.Kind
		format string
		dims   int
		want   ai.Usage
		cost   ai.Micros
	}{
		{aitest.OpenAI, "float", 0, ai.Usage{PromptTokens: 6, TotalTokens: 6}, 15},
		{aitest.OpenAI, "base64", 3, ai.Usage{PromptTokens: 6, TotalTokens: 6}, 15},
		{aitest.Azure, "float", 0, ai.Usage{PromptTokens: 6, TotalTokens: 6}, 15},
		// "hello" → 2, "world!" → 2 estimated tokens; 4 × 2.5 = 10 µ
		{aitest.Gemini, "float", 5, ai.Usage{PromptTokens: 4, TotalTokens: 4, Estimated: true}, 10},
		{aitest.Gemini, "base64", 0, ai.Usage{PromptTokens: 4, TotalTokens: 4, Estimated: true}, 10},
	}
	inputs := []string{"hello", "world!"}
	for _, tc := range cases {
		t.Run(string(tc.kind)+"/"+tc.format, func(t *testing.T) {
			f := aitest.New(t, tc.kind)
			f.Set(aitest.Scenario{Usage: aitest.Usage{Input: 6}})
			g := newGateway(t, oneModel(f, "emb"), nil)
			req := map[string]any{"model": "m", "input": inputs, "encoding_format": tc.format}
			if tc.dims > 0 {
				req["dimensions"] = tc.dims
			}
			resp, body := g.post(t, "/v1/embeddings", req)
			res := g.result(t)
			if resp.StatusCode != 200 {
				t.Fatalf("%d %s", resp.StatusCode, body)
			}
			var out struct {
				Object string `json:"object"`
				Data   []struct {
					Object    string          `json:"object"`
					Index     int             `json:"index"`
					Embedding json.RawMessage `json:"embedding"`
				} `json:"data"`
				Usage usageJSON `json:"usage"`
			}
			if err := json.Unmarshal(body, &out); err != nil || out.Object != "list" || len(out.Data) != 2 {
				t.Fatalf("body %s", body)
			}
			for i, d := range out.Data {
				want := aitest.Embedding(inputs[i], tc.dims)
				var got []float32
				if tc.format == "base64" {
					var s string
					_ = json.Unmarshal(d.Embedding, &s)
					raw, _ := base64.StdEncoding.DecodeString(s)
					for j := 0; j+4 <= len(raw); j += 4 {
						got = append(got, math.Float32frombits(binary.LittleEndian.Uint32(raw[j:])))
					}
				} else {
					_ = json.Unmarshal(d.Embedding, &got)
				}
				if d.Index != i || d.Object != "embedding" || !reflect.DeepEqual(got, want) {
					t.Errorf("embedding %d: %v, want %v", i, got, want)
				}
			}
			if out.Usage.PromptTokens != tc.want.PromptTokens || res.Usage != tc.want || res.Cost != tc.cost {
				t.Errorf("usage body %+v Result %+v cost %d; want %+v %d", out.Usage, res.Usage, res.Cost, tc.want, tc.cost)
			}
		})
	}
	t.Run("anthropic has no embeddings", func(t *testing.T) {
		f := aitest.New(t, aitest.Anthropic)
		g := newGateway(t, oneModel(f, "x"), nil)
		resp, body := g.post(t, "/v1/embeddings", map[string]any{"model": "m", "input": "a"})
		g.result(t)
		e := decode[completion](t, body).Error
		if resp.StatusCode != 400 || e == nil || e.Code != ai.CodeBadRequest || e.Param == nil || *e.Param != "model" {
			t.Errorf("%d %s", resp.StatusCode, body)
		}
		if len(f.Requests()) != 0 {
			t.Error("anthropic was called for embeddings")
		}
	})
	t.Run("gemini refuses token arrays", func(t *testing.T) {
		f := aitest.New(t, aitest.Gemini)
		g := newGateway(t, oneModel(f, "x"), nil)
		resp, body := g.post(t, "/v1/embeddings", map[string]any{"model": "m", "input": []int{1, 2, 3}})
		g.result(t)
		if e := decode[completion](t, body).Error; resp.StatusCode != 400 || e == nil || *e.Param != "input" {
			t.Errorf("%d %s", resp.StatusCode, body)
		}
	})
}

// TestModels: GET /v1/models lists what the caller may use; one model can
// be retrieved.
func TestModels(t *testing.T) {
	f := aitest.New(t, aitest.OpenAI)
	created := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	mk := func(name string) *ai.Model {
		m := model(name, ai.Target{Provider: f.Provider("p"), Model: "x"})
		m.Created = created
		return m
	}
	g := newGateway(t, []*ai.Model{mk("gpt-4o-mini"), mk("claude"), mk("gpt-4o")}, nil)
	cases := []struct {
		allowed []string
		want    []string
	}{
		{nil, []string{"claude", "gpt-4o", "gpt-4o-mini"}},
		{[]string{"gpt-4o*"}, []string{"gpt-4o", "gpt-4o-mini"}},
		{[]string{"claude"}, []string{"claude"}},
		{[]string{"none"}, []string{}},
	}
	for _, tc := range cases {
		g.allow(tc.allowed...)
		req, _ := http.NewRequest(http.MethodGet, g.URL+"/ai/v1/models", nil)
		req.Header.Set("Authorization", "Bearer "+gatewayKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var list struct {
			Object string `json:"object"`
			Data   []struct {
				ID      string `json:"id"`
				Object  string `json:"object"`
				Created int64  `json:"created"`
				OwnedBy string `json:"owned_by"`
			} `json:"data"`
		}
		_ = jsonDecode(resp, &list)
		resp.Body.Close()
		g.result(t)
		got := []string{}
		for _, d := range list.Data {
			got = append(got, d.ID)
			if d.Object != "model" || d.Created != created.Unix() || d.OwnedBy == "" {
				t.Errorf("model entry %+v", d)
			}
		}
		if list.Object != "list" || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("allowed %v: got %v, want %v", tc.allowed, got, tc.want)
		}
	}
	g.allow()
	req, _ := http.NewRequest(http.MethodGet, g.URL+"/ai/v1/models/claude", nil)
	req.Header.Set("Authorization", "Bearer "+gatewayKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var one struct{ ID, Object string }
	_ = jsonDecode(resp, &one)
	resp.Body.Close()
	if res := g.result(t); resp.StatusCode != 200 || one.ID != "claude" || one.Object != "model" || res.Endpoint != ai.EndpointModels {
		t.Errorf("retrieve: %d %+v", resp.StatusCode, one)
	}
}

// budget records the hook's calls.
type budget struct {
	mu       sync.Mutex
	reserved []ai.Reservation
	settled  []ai.Result
	deny     *reason.Error
	// cancelled counts settlements handed a cancelled context.
	cancelled int
}

func (b *budget) Reserve(ctx context.Context, call ai.CallContext, r ai.Reservation) (func(context.Context, ai.Result), *reason.Error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.deny != nil {
		return nil, b.deny
	}
	b.reserved = append(b.reserved, r)
	return func(ctx context.Context, res ai.Result) {
		b.mu.Lock()
		defer b.mu.Unlock()
		if ctx.Err() != nil {
			b.cancelled++
		}
		b.settled = append(b.settled, res)
	}, nil
}

// TestBudgetHook: the worst case is reserved before dispatch and the
// actual usage settled once after — also when the client disconnects —
// and a refusal stops the call before any provider is contacted.
func TestBudgetHook(t *testing.T) {
	f := aitest.New(t, aitest.OpenAI)
	f.Set(aitest.Scenario{Text: "Hello", Usage: aitest.Usage{Input: 13, Output: 12}})
	b := &budget{}
	g := newGateway(t, oneModel(f, "x"), func(o *ai.Options) { o.Budget = b })
	g.post(t, "/v1/chat/completions", chatBody("m", true, map[string]any{"max_tokens": 100}))
	res := g.result(t)
	b.mu.Lock()
	if len(b.reserved) != 1 || len(b.settled) != 1 || b.cancelled != 0 {
		t.Fatalf("reserved %d settled %d", len(b.reserved), len(b.settled))
	}
	r := b.reserved[0]
	// 7 estimated prompt tokens + max_tokens 100: 17.5 + 1000 = 1017.5 → 1018 µ
	wantU := ai.Usage{PromptTokens: 7, CompletionTokens: 100, TotalTokens: 107, Estimated: true}
	if r.Model.Name != "m" || r.Endpoint != ai.EndpointChat || r.Usage != wantU || r.Cost != 1018 {
		t.Errorf("reservation %+v", r)
	}
	if s := b.settled[0]; s.Usage != res.Usage || s.Cost != res.Cost || s.Cost != 153 || s.Duration != res.Duration || s.Duration <= 0 {
		t.Errorf("settled %+v / %d, Result %+v / %d", s.Usage, s.Cost, res.Usage, res.Cost)
	}
	b.mu.Unlock()

	b.deny = &reason.Error{Code: "budget.exceeded", Detail: "Daily budget of $1.00 reached.", Possession: true}
	resp, body := g.post(t, "/v1/chat/completions", chatBody("m", false, nil))
	g.result(t)
	if e := decode[completion](t, body).Error; resp.StatusCode != 429 || e == nil || e.Code != "budget.exceeded" {
		t.Errorf("denied: %d %s", resp.StatusCode, body)
	}
	if len(f.Requests()) != 1 {
		t.Errorf("provider called %d times, want 1", len(f.Requests()))
	}
}
