package server

import (
	"encoding/json"
	"strings"
	"testing"

	"gatehouse/internal/ai/aitest"
)

// Prompt routes end to end: a template with typed variables bound to a
// model alias behind a route of type "prompt"; a POST of the variables
// reaches the provider as one user message with the rendered text and
// answers in the chat-completion shape with usage; the call record
// carries usage and cost; a missing or mistyped variable is a 400 naming
// it in the OpenAI error shape, and never reaches the provider.
func TestPromptRoute(t *testing.T) {
	h := newHarness(t)
	w := h.newWorld("acme", nil, nil)
	f := aitest.New(t, aitest.OpenAI)
	f.Script(func(aitest.Request) aitest.Scenario {
		return aitest.Scenario{Text: "Bonjour, Ada !", Usage: aitest.Usage{Input: 1000, Output: 200}}
	})
	p := h.mustAdmin("POST", "/admin/v1/providers", map[string]any{"name": "oai", "type": "openai",
		"base_url": f.Provider("oai").BaseURL, "api_keys": []string{aitest.DefaultKey(aitest.OpenAI)}})
	h.mustAdmin("POST", "/admin/v1/models", map[string]any{"name": "chat",
		"targets": []map[string]any{{"provider": p["id"], "model": "upstream-model"}},
		"price":   map[string]any{"input_per_1m": "0.15", "output_per_1m": "0.60"}})
	pr := h.mustAdmin("POST", "/admin/v1/prompts", map[string]any{"tenant": w.tenant, "name": "greet",
		"template":  "Greet {{name}} in {{lang}}, {{times}} times.",
		"variables": []any{"name", "lang", map[string]any{"name": "times", "type": "integer"}}, "model": "chat"})
	h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{"/greet"}, "type": "prompt", "prompt": pr["id"]})
	_, key := h.newKey(w.consumer, nil)

	cases := []struct {
		name   string
		body   string
		status int
		param  string // the named variable, for a 400
	}{
		{"all variables", `{"name":"Ada","lang":"French","times":2}`, 200, ""},
		{"a missing variable", `{"name":"Ada","times":2}`, 400, "lang"},
		{"a mistyped variable", `{"name":"Ada","lang":"French","times":"two"}`, 400, "times"},
		{"a fractional integer", `{"name":"Ada","lang":"French","times":2.5}`, 400, "times"},
		{"an undeclared variable", `{"name":"Ada","lang":"French","times":2,"tone":"warm"}`, 400, "tone"},
		{"not an object", `["Ada"]`, 400, "body"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.Requests())
			r := postJSON(h, "/greet", tc.body, bearer(key)...)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			if tc.status != 200 {
				e, _ := r.body["error"].(map[string]any)
				if e == nil || e["code"] != "ai.bad_request" || e["param"] != tc.param ||
					!strings.Contains(mustJSON(e), r.header.Get("X-Request-Id")) {
					t.Fatalf("error body %s, want ai.bad_request naming %q with the request ID", r.raw, tc.param)
				}
				if len(f.Requests()) != before {
					t.Fatal("a rejected prompt call reached the provider")
				}
				return
			}
			var out struct {
				Object  string `json:"object"`
				Model   string `json:"model"`
				Choices []struct {
					Message struct{ Role, Content string } `json:"message"`
				} `json:"choices"`
				Usage struct {
					PromptTokens     int64 `json:"prompt_tokens"`
					CompletionTokens int64 `json:"completion_tokens"`
				} `json:"usage"`
			}
			if err := json.Unmarshal([]byte(r.raw), &out); err != nil || out.Object != "chat.completion" || len(out.Choices) != 1 ||
				out.Choices[0].Message.Content != "Bonjour, Ada !" || out.Usage.PromptTokens != 1000 || out.Usage.CompletionTokens != 200 {
				t.Fatalf("answer %s (%v)", r.raw, err)
			}
			reqs := f.Requests()
			if len(reqs) != before+1 {
				t.Fatalf("provider saw %d calls, want 1", len(reqs)-before)
			}
			sent := string(reqs[len(reqs)-1].Body)
			if !strings.Contains(sent, `"content":"Greet Ada in French, 2 times."`) || !strings.Contains(sent, `"role":"user"`) {
				t.Fatalf("provider got %s, want the rendered prompt as the user message", sent)
			}
			rec := h.waitCall(r.header.Get("X-Request-Id"))
			ai, _ := rec["ai"].(map[string]any)
			// 1000 × 0.15 + 200 × 0.60 per 1M = 270 micros.
			if ai == nil || ai["model"] != "upstream-model" || ai["alias"] != "chat" || ai["cost_micros"] != float64(270) {
				t.Fatalf("call record %s", mustJSON(rec))
			}
		})
	}
}
