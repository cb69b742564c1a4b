package server

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"gatehouse/internal/ai"
	"gatehouse/internal/ai/aitest"
)

// Prompt routes end to end: a template with typed variables bound to a
// model alias behind a route of type "prompt"; a POST of the variables
// reaches the provider as one user message with the rendered text and
// answers exactly {output, usage, cost, cost_micros, request_id} with the
// provider's token counts (or the gateway's estimate, marked so) and the
// exact cost; the call record carries the same usage and cost; a missing
// or mistyped variable is a 400 naming it in the OpenAI error shape, and
// never reaches the provider.
func TestPromptRoute(t *testing.T) {
	h := newHarness(t)
	w := h.newWorld("acme", nil, nil)
	f := aitest.New(t, aitest.OpenAI)
	const answer = "Bonjour, Ada !"
	f.Script(func(r aitest.Request) aitest.Scenario {
		if strings.Contains(string(r.Body), "Greet Grace") { // a provider that reports no usage
			return aitest.Scenario{Text: answer, UsageMode: aitest.UsageAbsent}
		}
		return aitest.Scenario{Text: answer, Usage: aitest.Usage{Input: 1000, CachedInput: 400, Output: 200}}
	})
	p := h.mustAdmin("POST", "/admin/v1/providers", map[string]any{"name": "oai", "type": "openai",
		"base_url": f.Provider("oai").BaseURL, "api_keys": []string{aitest.DefaultKey(aitest.OpenAI)}})
	h.mustAdmin("POST", "/admin/v1/models", map[string]any{"name": "chat",
		"targets": []map[string]any{{"provider": p["id"], "model": "upstream-model"}},
		"price":   map[string]any{"input_per_1m": "0.15", "cached_input_per_1m": "0.075", "output_per_1m": "0.60"}})
	pr := h.mustAdmin("POST", "/admin/v1/prompts", map[string]any{"tenant": w.tenant, "name": "greet",
		"template":  "Greet {{name}} in {{lang}}, {{times}} times.",
		"variables": []any{"name", "lang", map[string]any{"name": "times", "type": "integer"}}, "model": "chat"})
	h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{"/greet"}, "type": "prompt", "prompt": pr["id"]})
	_, key := h.newKey(w.consumer, nil)

	// The estimate when the provider is silent: 4 tokens of overhead per
	// message plus one per started 4 characters, and the answer's length.
	estIn := 4 + ai.EstimateTokens("Greet Grace in French, 2 times.")
	estOut := ai.EstimateTokens(answer)
	// (estIn × 0.15 + estOut × 0.60) per 1M, in micros, rounded half-up.
	estCost := (estIn*150_000 + estOut*600_000 + 500_000) / 1_000_000

	type usage struct{ in, cached, out int64 }
	cases := []struct {
		name     string
		body     string
		status   int
		param    string // the named variable, for a 400
		rendered string // the user message the provider must get, for a 200
		usage    usage
		est      bool
		cost     int64 // micros
	}{
		// 600 uncached × 0.15 + 400 cached × 0.075 + 200 × 0.60 per 1M =
		// 90 + 30 + 120 = 240 micros.
		{name: "all variables", body: `{"name":"Ada","lang":"French","times":2}`, status: 200,
			rendered: "Greet Ada in French, 2 times.", usage: usage{1000, 400, 200}, cost: 240},
		{name: "a provider without usage: estimated, and marked so", body: `{"name":"Grace","lang":"French","times":2}`, status: 200,
			rendered: "Greet Grace in French, 2 times.", usage: usage{estIn, 0, estOut}, est: true, cost: estCost},
		{name: "a missing variable", body: `{"name":"Ada","times":2}`, status: 400, param: "lang"},
		{name: "a mistyped variable", body: `{"name":"Ada","lang":"French","times":"two"}`, status: 400, param: "times"},
		{name: "a fractional integer", body: `{"name":"Ada","lang":"French","times":2.5}`, status: 400, param: "times"},
		{name: "an undeclared variable", body: `{"name":"Ada","lang":"French","times":2,"tone":"warm"}`, status: 400, param: "tone"},
		{name: "not an object", body: `["Ada"]`, status: 400, param: "body"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(f.Requests())
			r := postJSON(h, "/greet", tc.body, bearer(key)...)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			rid := r.header.Get("X-Request-Id")
			if rid == "" {
				t.Fatal("no X-Request-Id")
			}
			if tc.status != 200 {
				e, _ := r.body["error"].(map[string]any)
				if e == nil || e["code"] != "ai.bad_request" || e["param"] != tc.param || e["request_id"] != rid ||
					!strings.Contains(e["message"].(string), rid) {
					t.Fatalf("error body %s, want ai.bad_request naming %q with the request ID %s", r.raw, tc.param, rid)
				}
				if len(f.Requests()) != before {
					t.Fatal("a rejected prompt call reached the provider")
				}
				return
			}
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Fatalf("Content-Type %q", ct)
			}
			// Exactly these fields and values, nothing else.
			want := map[string]any{
				"output": answer,
				"usage": map[string]any{"input_tokens": float64(tc.usage.in), "cached_input_tokens": float64(tc.usage.cached),
					"output_tokens": float64(tc.usage.out), "estimated": tc.est},
				"cost":        ai.Micros(tc.cost).String(),
				"cost_micros": float64(tc.cost),
				"request_id":  rid,
			}
			if !reflect.DeepEqual(r.body, want) {
				t.Fatalf("answer %s\nwant   %s", r.raw, mustJSON(want))
			}
			reqs := f.Requests()
			if len(reqs) != before+1 {
				t.Fatalf("provider saw %d calls, want 1", len(reqs)-before)
			}
			var sent struct {
				Model    string `json:"model"`
				Stream   bool   `json:"stream"`
				Messages []struct{ Role, Content string }
			}
			if err := json.Unmarshal(reqs[len(reqs)-1].Body, &sent); err != nil || sent.Model != "upstream-model" || sent.Stream ||
				len(sent.Messages) != 1 || sent.Messages[0].Role != "user" || sent.Messages[0].Content != tc.rendered {
				t.Fatalf("provider got %s, want the rendered prompt %q as the one user message", reqs[len(reqs)-1].Body, tc.rendered)
			}
			rec := h.waitCall(rid)
			a, _ := rec["ai"].(map[string]any)
			if a == nil || a["provider"] != "oai" || a["model"] != "upstream-model" || a["alias"] != "chat" ||
				a["prompt_tokens"] != float64(tc.usage.in) || a["completion_tokens"] != float64(tc.usage.out) ||
				a["cost_micros"] != float64(tc.cost) || (a["estimated"] == true) != tc.est || rec["status"] != float64(200) {
				t.Fatalf("call record %s", mustJSON(rec))
			}
		})
	}

	// A rejection from the AI handler itself (after the variables were
	// rendered) passes through unchanged: the OpenAI error shape, with
	// its headers. A key with a budget of one micro-unit a day spends it
	// on its first call; the second is budget.exceeded.
	t.Run("over budget: the handler's rejection, unchanged", func(t *testing.T) {
		keyID, broke := h.newKey(w.consumer, nil)
		h.mustAdmin("POST", "/admin/v1/budgets", map[string]any{"scope": "credential", "scope_id": keyID, "amount": "0.000001", "period": "day"})
		if r := postJSON(h, "/greet", `{"name":"Ada","lang":"French","times":2}`, bearer(broke)...); r.status != 200 {
			t.Fatalf("first call: %d %s", r.status, r.raw)
		}
		before := len(f.Requests())
		r := postJSON(h, "/greet", `{"name":"Ada","lang":"French","times":2}`, bearer(broke)...)
		rid := r.header.Get("X-Request-Id")
		e, _ := r.body["error"].(map[string]any)
		if r.status != 429 || e == nil || e["code"] != "budget.exceeded" || e["request_id"] != rid || rid == "" ||
			r.header.Get("Retry-After") == "" || r.body["output"] != nil {
			t.Fatalf("over budget: %d %s (Retry-After %q)", r.status, r.raw, r.header.Get("Retry-After"))
		}
		if len(f.Requests()) != before {
			t.Fatal("an over-budget prompt call reached the provider")
		}
		if rec := h.waitCall(rid); rec["code"] != "budget.exceeded" || rec["status"] != float64(429) {
			t.Fatalf("call record %s", mustJSON(rec))
		}
	})
}
