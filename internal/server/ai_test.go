package server

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"gatehouse/internal/ai/aitest"
)

// An AI route end to end through the real gateway: providers and models
// created through the admin API (keys sealed), the official openai-go SDK
// with only its base URL and API key changed, plain and streamed, in front
// of an OpenAI-compatible and an Anthropic provider; usage and exact cost
// in the call record; a revoked Gatehouse key surfaces in the SDK as an
// error naming our reason code and request ID.
func TestAIRouteWithOpenAISDK(t *testing.T) {
	h := newHarness(t)
	w := h.newWorld("acme", nil, nil)
	for _, kind := range []aitest.Kind{aitest.OpenAI, aitest.Anthropic} {
		t.Run(string(kind), func(t *testing.T) {
			f := aitest.New(t, kind)
			f.Script(func(aitest.Request) aitest.Scenario {
				return aitest.Scenario{Text: "Rayleigh scattering.", Usage: aitest.Usage{Input: 1000, Output: 200}}
			})
			name := "prov-" + string(kind)
			p := h.mustAdmin("POST", "/admin/v1/providers", map[string]any{"name": name, "type": string(kind),
				"base_url": f.Provider(name).BaseURL, "api_keys": []string{aitest.DefaultKey(kind)}})
			if strings.Contains(mustJSON(p), aitest.DefaultKey(kind)) {
				t.Fatal("the provider key came back from the admin API")
			}
			alias := "chat-" + string(kind)
			h.mustAdmin("POST", "/admin/v1/models", map[string]any{"name": alias,
				"targets": []map[string]any{{"provider": p["id"], "model": "upstream-model"}},
				"price":   map[string]any{"input_per_1m": "0.15", "cached_input_per_1m": "0.075", "output_per_1m": "0.60"}})
			prefix := "/llm-" + string(kind)
			h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{prefix}, "type": "ai"})
			keyID, key := h.newKey(w.consumer, nil)

			ctx := context.Background()
			c := openai.NewClient(option.WithBaseURL(h.proxy+prefix+"/v1/"), option.WithAPIKey(key), option.WithMaxRetries(0))
			params := openai.ChatCompletionNewParams{Model: alias, Messages: []openai.ChatCompletionMessageParamUnion{
				openai.UserMessage("Why is the sky blue?")}}
			resp, err := c.Chat.Completions.New(ctx, params)
			if err != nil {
				var e *openai.Error
				if errors.As(err, &e) {
					t.Logf("body: %s", e.RawJSON())
				}
				t.Fatalf("plain: %v", err)
			}
			if resp.Choices[0].Message.Content != "Rayleigh scattering." || resp.Usage.PromptTokens != 1000 || resp.Usage.CompletionTokens != 200 {
				t.Fatalf("plain answer %+v", resp)
			}
			stream := c.Chat.Completions.NewStreaming(ctx, params)
			var acc openai.ChatCompletionAccumulator
			for stream.Next() {
				acc.AddChunk(stream.Current())
			}
			if err := stream.Err(); err != nil || acc.Choices[0].Message.Content != "Rayleigh scattering." {
				t.Fatalf("streamed: %v %+v", err, acc.Choices)
			}
			// The call record: provider, model, tokens, exact cost
			// (1000 × 0.15 + 200 × 0.60 per 1M = 0.00027 → 270 micros).
			var rec map[string]any
			deadline := time.Now().Add(3 * time.Second)
			for {
				_, out := h.adminDo("GET", "/admin/v1/calls?consumer="+w.consumer+"&limit=1000", nil)
				items, _ := out["items"].([]any)
				rec = nil
				for _, it := range items {
					if m := it.(map[string]any); m["ai"] != nil && m["credential_id"] == keyID {
						rec = m
					}
				}
				if rec != nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no AI call record: %v", out)
				}
				time.Sleep(20 * time.Millisecond)
			}
			a := rec["ai"].(map[string]any)
			if a["prompt_tokens"] != float64(1000) || a["completion_tokens"] != float64(200) || a["cost_micros"] != float64(270) {
				t.Fatalf("call record ai %v", a)
			}
			// A revoked key: the SDK's error carries our code and request ID.
			h.mustAdmin("POST", "/admin/v1/keys/"+keyID+"/revoke", map[string]any{"reason": "demo"})
			_, err = c.Chat.Completions.New(ctx, params)
			var apiErr *openai.Error
			if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 || apiErr.Code != "key.revoked" ||
				!strings.Contains(apiErr.Message, "request") {
				t.Fatalf("revoked key: %v", err)
			}
			for _, r := range f.Requests() {
				if strings.Contains(string(r.Body), key) || strings.Contains(r.Header.Get("Authorization"), key) {
					t.Fatal("the Gatehouse key reached the provider")
				}
			}
		})
	}
}
