package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"gatehouse/internal/ai"
	"gatehouse/internal/ai/aitest"
)

// The acceptance of issue 8 through the whole gateway, not the AI handler
// alone: providers, model aliases, AI routes, consumers, keys and budgets
// created through the admin API; real Gatehouse keys checked by the
// pipeline; the call log read back through /admin/v1/calls. The official
// SDKs (openai-go here, npm openai in aisdk_npm_test.go) change only their
// base URL and API key.

// aiSDKCase is one fake provider kind behind its own AI route, with the
// usage it reports and what the gateway must make of it.
type aiSDKCase struct {
	kind      aitest.Kind
	usage     aitest.Usage // as the provider reports it
	reasoning string       // thinking text the provider sends (never in the answer)
	want      sdkUsage     // in the OpenAI sense, as the SDK must see it
	cost      int64        // micros at sdkPrice
	// embeddings is false for providers without an embeddings API.
	embeddings bool
}

// sdkUsage is an OpenAI usage object's numbers.
type sdkUsage struct{ prompt, cached, completion, reasoning, total int64 }

// sdkPrice is gpt-4o's list price: $2.50 / $1.25 cached / $10.00 per 1M.
var sdkPrice = map[string]any{"input_per_1m": "2.50", "cached_input_per_1m": "1.25", "output_per_1m": "10.00"}

var aiSDKCases = []aiSDKCase{
	// 15 uncached × 2.5 + 10 cached × 1.25 + 12 × 10 = 37.5 + 12.5 + 120 = 170 µ.
	{kind: aitest.OpenAI, usage: aitest.Usage{Input: 25, CachedInput: 10, Output: 12, Reasoning: 4},
		want: sdkUsage{25, 10, 12, 4, 37}, cost: 170, embeddings: true},
	{kind: aitest.Azure, usage: aitest.Usage{Input: 25, CachedInput: 10, Output: 12, Reasoning: 4},
		want: sdkUsage{25, 10, 12, 4, 37}, cost: 170, embeddings: true},
	// Prompt = 25 uncached + 10 read + 5 written = 40; 25 × 2.5 + 10 × 1.25 +
	// 5 × 2.5 (no cache-write price: the input price) + 12 × 10 = 207.5 → 208 µ.
	{kind: aitest.Anthropic, usage: aitest.Usage{Input: 25, CachedInput: 10, CacheWrite: 5, Output: 12}, reasoning: "Let me think.",
		want: sdkUsage{40, 10, 12, 0, 52}, cost: 208},
	// Completion = 12 candidates + 7 thoughts; 15 × 2.5 + 10 × 1.25 + 19 × 10 = 240 µ.
	{kind: aitest.Gemini, usage: aitest.Usage{Input: 25, CachedInput: 10, Output: 12, Reasoning: 7}, reasoning: "Thinking about it.",
		want: sdkUsage{25, 10, 19, 7, 44}, cost: 240, embeddings: true},
}

const sdkText = "The sky is blue because of Rayleigh scattering."

var sdkToolCall = aitest.ToolCall{ID: "toolu_01A", Name: "get_weather", Args: `{"city":"Paris"}`}

// aiSDKGateway is a real gateway with one AI route per provider kind, a
// consumer with a key (revoked at the end of a test) and a second key
// with a budget of one micro-unit a day.
type aiSDKGateway struct {
	h               *harness
	w               world
	fakes           map[aitest.Kind]*aitest.Fake
	keyID, key      string
	brokeID, broke  string
	embeddingsInput int64 // the prompt_tokens the OpenAI-type fakes report for embeddings
}

func newAISDKGateway(t *testing.T) *aiSDKGateway {
	h := newHarness(t)
	g := &aiSDKGateway{h: h, w: h.newWorld("acme", nil, nil), fakes: map[aitest.Kind]*aitest.Fake{}}
	for _, c := range aiSDKCases {
		f := aitest.New(t, c.kind)
		f.Script(func(r aitest.Request) aitest.Scenario {
			body := string(r.Body)
			switch {
			case strings.Contains(body, "temp"): // the tool result came back
				return aitest.Scenario{Text: "21 degrees.", Usage: c.usage}
			case strings.Contains(body, "get_weather"):
				return aitest.Scenario{ToolCalls: []aitest.ToolCall{sdkToolCall}, Usage: c.usage}
			}
			return aitest.Scenario{Text: sdkText, Usage: c.usage, Reasoning: c.reasoning}
		})
		g.fakes[c.kind] = f
		p := h.mustAdmin("POST", "/admin/v1/providers", map[string]any{"name": sdkProvider(c.kind), "type": string(c.kind),
			"base_url": f.Provider("x").BaseURL, "api_keys": []string{aitest.DefaultKey(c.kind)}})
		if strings.Contains(mustJSON(p), aitest.DefaultKey(c.kind)) {
			t.Fatal("the provider key came back from the admin API")
		}
		h.mustAdmin("POST", "/admin/v1/models", map[string]any{"name": sdkAlias(c.kind),
			"targets": []map[string]any{{"provider": p["id"], "model": sdkUpstream(c.kind)}}, "price": sdkPrice})
		h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": g.w.service, "paths": []string{sdkPrefix(c.kind)}, "type": "ai"})
	}
	g.keyID, g.key = h.newKey(g.w.consumer, nil)
	g.brokeID, g.broke = h.newKey(g.w.consumer, nil)
	h.mustAdmin("POST", "/admin/v1/budgets", map[string]any{"scope": "credential", "scope_id": g.brokeID, "amount": "0.000001", "period": "day"})
	g.embeddingsInput = aiSDKCases[0].usage.Input // the OpenAI fake reports Usage.Input for embeddings
	return g
}

func sdkProvider(k aitest.Kind) string { return "prov-" + string(k) }
func sdkAlias(k aitest.Kind) string    { return "chat-" + string(k) }
func sdkUpstream(k aitest.Kind) string { return "upstream-" + string(k) }
func sdkPrefix(k aitest.Kind) string   { return "/llm-" + string(k) }

// spendBudget spends the budgeted key's one micro-unit with one call (a
// reservation is admitted while the budget is not yet spent).
func (g *aiSDKGateway) spendBudget(t *testing.T) {
	t.Helper()
	r := postJSON(g.h, sdkPrefix(aitest.OpenAI)+"/v1/chat/completions",
		`{"model":"`+sdkAlias(aitest.OpenAI)+`","messages":[{"role":"user","content":"hi"}]}`, bearer(g.broke)...)
	if r.status != 200 {
		t.Fatalf("spending the budget: %d %s", r.status, r.raw)
	}
}

// revoke revokes the consumer's key.
func (g *aiSDKGateway) revoke() {
	g.h.mustAdmin("POST", "/admin/v1/keys/"+g.keyID+"/revoke", map[string]any{"reason": "compromised"})
}

// recordWant is what one call's record must carry.
type recordWant struct {
	kind      aitest.Kind
	usage     sdkUsage
	cost      int64
	estimated bool
}

// checkRecord reads the call record of rid through the admin API and
// compares its AI part: provider, upstream model, alias, tokens, cost.
func (g *aiSDKGateway) checkRecord(t *testing.T, what, rid string, want recordWant) {
	t.Helper()
	if rid == "" {
		t.Errorf("%s: no request ID from the gateway", what)
		return
	}
	rec := g.h.waitCall(rid)
	a, _ := rec["ai"].(map[string]any)
	num := func(k string) int64 { f, _ := a[k].(float64); return int64(f) }
	if a == nil || rec["status"] != float64(200) || rec["credential_id"] == nil || a["provider"] != sdkProvider(want.kind) ||
		a["model"] != sdkUpstream(want.kind) || a["alias"] != sdkAlias(want.kind) ||
		num("prompt_tokens") != want.usage.prompt || num("cached_tokens") != want.usage.cached ||
		num("completion_tokens") != want.usage.completion || num("reasoning_tokens") != want.usage.reasoning ||
		num("cost_micros") != want.cost || (a["estimated"] == true) != want.estimated {
		t.Errorf("%s: call record %s, want %+v", what, mustJSON(rec), want)
	}
}

// checkRejection reads the call record of a rejected call.
func (g *aiSDKGateway) checkRejection(t *testing.T, what, rid, code string, status int) {
	t.Helper()
	if rid == "" {
		t.Errorf("%s: no request ID from the gateway", what)
		return
	}
	if rec := g.h.waitCall(rid); rec["code"] != code || rec["status"] != float64(status) {
		t.Errorf("%s: call record %s, want %s %d", what, mustJSON(rec), code, status)
	}
}

// checkKeysStayed fails if a Gatehouse key reached a provider.
func (g *aiSDKGateway) checkKeysStayed(t *testing.T) {
	t.Helper()
	for kind, f := range g.fakes {
		for _, r := range f.Requests() {
			for _, k := range []string{g.key, g.broke} {
				if strings.Contains(string(r.Body), k) || strings.Contains(mustJSON(r.Header), k) || strings.Contains(r.RawQuery, k) {
					t.Errorf("a Gatehouse key reached the %s provider", kind)
				}
			}
		}
	}
}

// embeddingsCost prices n input tokens at $2.50 per 1M, rounded half-up.
func embeddingsCost(n int64) int64 { return (n*2_500_000 + 500_000) / 1_000_000 }

func sdkUsageOf(u openai.CompletionUsage) sdkUsage {
	return sdkUsage{u.PromptTokens, u.PromptTokensDetails.CachedTokens, u.CompletionTokens, u.CompletionTokensDetails.ReasoningTokens, u.TotalTokens}
}

func requestID(r *http.Response) string {
	if r == nil {
		return ""
	}
	return r.Header.Get("X-Request-Id")
}

var sdkGoTools = []openai.ChatCompletionToolUnionParam{
	openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name:        "get_weather",
		Description: openai.String("Weather of a city"),
		Parameters: openai.FunctionParameters{"type": "object",
			"properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []string{"city"}},
	}),
}

// TestAIGatewayOpenAIGoSDK: openai-go through the whole gateway in front of
// each fake provider kind — chat plain and streamed (same text, the
// provider's usage), tool calls plain and streamed and the tool result's
// turn, embeddings as floats and base64 — with every call on the call log
// with provider, model, tokens and exact cost; then a revoked key and an
// over-budget key surface as SDK errors whose message carries our reason
// code and the request ID the gateway returned.
func TestAIGatewayOpenAIGoSDK(t *testing.T) {
	g := newAISDKGateway(t)
	ctx := context.Background()
	client := func(kind aitest.Kind, key string) openai.Client {
		return openai.NewClient(option.WithBaseURL(g.h.proxy+sdkPrefix(kind)+"/v1/"), option.WithAPIKey(key), option.WithMaxRetries(0))
	}
	for _, c := range aiSDKCases {
		t.Run(string(c.kind), func(t *testing.T) {
			sdk := client(c.kind, g.key)
			chatRecord := recordWant{kind: c.kind, usage: c.want, cost: c.cost}
			params := openai.ChatCompletionNewParams{Model: sdkAlias(c.kind), Messages: []openai.ChatCompletionMessageParamUnion{
				openai.SystemMessage("You are terse."), openai.UserMessage("Why is the sky blue?")}}

			// Plain.
			var hr *http.Response
			resp, err := sdk.Chat.Completions.New(ctx, params, option.WithResponseInto(&hr))
			if err != nil {
				t.Fatalf("plain: %v", err)
			}
			if resp.Choices[0].Message.Content != sdkText || resp.Choices[0].FinishReason != "stop" {
				t.Errorf("plain: %q finish %q", resp.Choices[0].Message.Content, resp.Choices[0].FinishReason)
			}
			if got := sdkUsageOf(resp.Usage); got != c.want {
				t.Errorf("plain usage %+v, want %+v", got, c.want)
			}
			g.checkRecord(t, "plain", requestID(hr), chatRecord)

			// Streamed, with usage: the same text and the same numbers.
			params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
			hr = nil
			stream := sdk.Chat.Completions.NewStreaming(ctx, params, option.WithResponseInto(&hr))
			var acc openai.ChatCompletionAccumulator
			var deltas strings.Builder
			for stream.Next() {
				ch := stream.Current()
				acc.AddChunk(ch)
				if len(ch.Choices) > 0 {
					deltas.WriteString(ch.Choices[0].Delta.Content)
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("stream: %v", err)
			}
			if deltas.String() != resp.Choices[0].Message.Content || acc.Choices[0].Message.Content != resp.Choices[0].Message.Content ||
				acc.Choices[0].FinishReason != "stop" {
				t.Errorf("streamed text %q (accumulated %q, finish %q) != plain text %q", deltas.String(),
					acc.Choices[0].Message.Content, acc.Choices[0].FinishReason, resp.Choices[0].Message.Content)
			}
			if got := sdkUsageOf(acc.Usage); got != c.want {
				t.Errorf("streamed usage %+v, want %+v", got, c.want)
			}
			g.checkRecord(t, "stream", requestID(hr), chatRecord)

			// Tool calls, plain then streamed, then the tool result's turn.
			tparams := openai.ChatCompletionNewParams{Model: sdkAlias(c.kind), Tools: sdkGoTools,
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Weather in Paris?")}}
			hr = nil
			tresp, err := sdk.Chat.Completions.New(ctx, tparams, option.WithResponseInto(&hr))
			if err != nil {
				t.Fatalf("tools: %v", err)
			}
			tcs := tresp.Choices[0].Message.ToolCalls
			if len(tcs) != 1 || tcs[0].Function.Name != sdkToolCall.Name || !jsonSame(tcs[0].Function.Arguments, sdkToolCall.Args) ||
				tcs[0].ID == "" || tresp.Choices[0].FinishReason != "tool_calls" {
				t.Fatalf("tool call: %+v finish %q", tcs, tresp.Choices[0].FinishReason)
			}
			g.checkRecord(t, "tools", requestID(hr), chatRecord)
			hr = nil
			tstream := sdk.Chat.Completions.NewStreaming(ctx, tparams, option.WithResponseInto(&hr))
			var tacc openai.ChatCompletionAccumulator
			for tstream.Next() {
				tacc.AddChunk(tstream.Current())
			}
			if err := tstream.Err(); err != nil {
				t.Fatalf("tool stream: %v", err)
			}
			stc := tacc.Choices[0].Message.ToolCalls
			if len(stc) != 1 || stc[0].Function.Name != sdkToolCall.Name || !jsonSame(stc[0].Function.Arguments, sdkToolCall.Args) ||
				stc[0].ID == "" || tacc.Choices[0].FinishReason != "tool_calls" {
				t.Errorf("streamed tool call: %+v finish %q", stc, tacc.Choices[0].FinishReason)
			}
			// Without include_usage the SDK sees no usage; the record still has the provider's.
			g.checkRecord(t, "tools stream", requestID(hr), chatRecord)
			tparams.Messages = append(tparams.Messages, tresp.Choices[0].Message.ToParam(), openai.ToolMessage(`{"temp":21}`, tcs[0].ID))
			final, err := sdk.Chat.Completions.New(ctx, tparams)
			if err != nil {
				t.Fatalf("tool result turn: %v", err)
			}
			if final.Choices[0].Message.Content != "21 degrees." {
				t.Errorf("after the tool result: %q", final.Choices[0].Message.Content)
			}

			// Embeddings, floats and base64 (the SDK decodes base64).
			for _, format := range []openai.EmbeddingNewParamsEncodingFormat{openai.EmbeddingNewParamsEncodingFormatFloat, openai.EmbeddingNewParamsEncodingFormatBase64} {
				hr = nil
				emb, err := sdk.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: sdkAlias(c.kind), EncodingFormat: format,
					Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"hello", "world!"}}}, option.WithResponseInto(&hr))
				if !c.embeddings {
					var apiErr *openai.Error
					if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Code != ai.CodeBadRequest || apiErr.Param != "model" ||
						!strings.Contains(apiErr.Message, requestID(hr)) {
						t.Errorf("%s embeddings: %v", c.kind, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("embeddings %s: %v", format, err)
				}
				if len(emb.Data) != 2 {
					t.Fatalf("embeddings %s: %d vectors", format, len(emb.Data))
				}
				for i, in := range []string{"hello", "world!"} {
					want, got := aitest.Embedding(in, 0), emb.Data[i].Embedding
					if len(got) != len(want) {
						t.Fatalf("%s embedding %d: %v", format, i, got)
					}
					for k := range want {
						if got[k] != float64(want[k]) {
							t.Errorf("%s embedding %d: %v, want %v", format, i, got, want)
							break
						}
					}
				}
				// OpenAI-type providers report the input tokens; Gemini's
				// embeddings API reports none, so the gateway estimates.
				n, est := emb.Usage.PromptTokens, c.kind == aitest.Gemini
				if (!est && n != g.embeddingsInput) || n == 0 || emb.Usage.TotalTokens != n {
					t.Errorf("%s embeddings usage %+v", format, emb.Usage)
				}
				g.checkRecord(t, "embeddings "+string(format), requestID(hr),
					recordWant{kind: c.kind, usage: sdkUsage{prompt: n}, cost: embeddingsCost(n), estimated: est})
			}
		})
	}

	// Our rejections, as the SDK surfaces them, plain and streamed: the
	// message names the reason code and the request ID of X-Request-Id.
	t.Run("rejections", func(t *testing.T) {
		g.spendBudget(t)
		g.revoke()
		for _, tc := range []struct {
			name, key, code string
			status          int
		}{
			{"revoked key", g.key, "key.revoked", 401},
			{"over-budget key", g.broke, "budget.exceeded", 429},
		} {
			for _, c := range aiSDKCases {
				sdk := client(c.kind, tc.key)
				params := openai.ChatCompletionNewParams{Model: sdkAlias(c.kind), Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}
				var hr *http.Response
				_, plainErr := sdk.Chat.Completions.New(ctx, params, option.WithResponseInto(&hr))
				plainID := requestID(hr)
				hr = nil
				stream := sdk.Chat.Completions.NewStreaming(ctx, params, option.WithResponseInto(&hr))
				for stream.Next() {
					t.Errorf("%s %s: a chunk came through", tc.name, c.kind)
				}
				for _, call := range []struct {
					what string
					err  error
					rid  string
				}{{"plain", plainErr, plainID}, {"stream", stream.Err(), requestID(hr)}} {
					what := tc.name + " " + string(c.kind) + " " + call.what
					var apiErr *openai.Error
					if !errors.As(call.err, &apiErr) {
						t.Errorf("%s: %v, want an *openai.Error", what, call.err)
						continue
					}
					// openai-go's Error() is only "OpenAI API error: 401
					// Unauthorized" (it keeps bodies out of logs); the
					// message a program shows is apiErr.Message.
					if apiErr.StatusCode != tc.status || apiErr.Code != tc.code || call.rid == "" ||
						!strings.Contains(apiErr.Message, tc.code) || !strings.Contains(apiErr.Message, call.rid) {
						t.Errorf("%s: status %d code %q message %q, error %q (X-Request-Id %q)", what, apiErr.StatusCode, apiErr.Code, apiErr.Message, call.err, call.rid)
					}
					g.checkRejection(t, what, call.rid, tc.code, tc.status)
				}
			}
		}
		g.checkKeysStayed(t)
	})
}

// jsonSame compares two JSON texts by value.
func jsonSame(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
