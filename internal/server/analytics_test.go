package server

import (
	"context"
	"testing"

	"gatehouse/internal/ai/aitest"
	"gatehouse/internal/store"
)

// Every proxied call lands in the per-minute rollups (written on the
// call log's path, flushed at shutdown at the latest): totals by code
// equal the calls made.
func TestRollupsEqualTheCalls(t *testing.T) {
	h := newHarness(t)
	w := h.newWorld("acme", nil, nil)
	_, good := h.newKey(w.consumer, nil)
	want := map[string]int64{"": 12, "auth.missing": 5, "key.malformed": 3}
	for i := int64(0); i < want[""]; i++ {
		h.call("GET", "/acme/x", bearer(good)...)
	}
	for i := int64(0); i < want["auth.missing"]; i++ {
		h.call("GET", "/acme/x")
	}
	for i := int64(0); i < want["key.malformed"]; i++ {
		h.call("GET", "/acme/x", bearer("gk_live_nope")...)
	}
	h.stop() // flushes the call log, then the rollups
	got := map[string]int64{}
	db := reopenStore(t, h)
	rows, err := db.(store.Analytics).QueryRollups(context.Background(), store.RollupFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		got[r.Code] += r.Count
	}
	for code, n := range want {
		if got[code] != n {
			t.Errorf("rollups for code %q: %d, want %d (all: %v)", code, got[code], n, got)
		}
	}
}

// §12's rollups by model, end to end: AI calls through the gateway land in
// the rollups under the model the client asked for (the catalogue's name),
// with their cost; a model the catalogue does not hold lands under none.
func TestAIRollupsByModel(t *testing.T) {
	h := newHarness(t)
	w := h.newWorld("acme", nil, nil)
	h.chatModel(t)
	h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{"/llm"}, "type": "ai"})
	_, key := h.newKey(w.consumer, nil)
	for _, model := range []string{"chat", "chat", "no-such-model"} {
		postJSON(h, "/llm/v1/chat/completions", `{"model":"`+model+`","messages":[{"role":"user","content":"hi"}]}`, bearer(key)...)
	}
	h.call("GET", "/acme/x", bearer(key)...)
	h.stop() // flushes the call log, then the rollups
	rows, err := reopenStore(t, h).(store.Analytics).QueryRollups(context.Background(), store.RollupFilter{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	var cost int64
	for _, r := range rows {
		got[r.Model] += r.Count
		if r.Model == "chat" {
			cost += r.CostMicros
		}
	}
	// 1000 input tokens at 0.15 and 200 output at 0.60 per million: 270
	// micros a call.
	if got["chat"] != 2 || got[""] != 2 || len(got) != 2 || cost != 540 {
		t.Errorf("rollup calls by model %v, chat's cost %d; want chat 2 (540 micros) and 2 under no model", got, cost)
	}
}

// chatModel puts the model "chat" (0.15 input, 0.60 output per 1M tokens)
// in the catalogue, served by a fake OpenAI provider that answers every
// call with 1000 prompt and 200 completion tokens: 270 micros a call.
func (h *harness) chatModel(t *testing.T) {
	t.Helper()
	f := aitest.New(t, aitest.OpenAI)
	f.Script(func(aitest.Request) aitest.Scenario {
		return aitest.Scenario{Text: "ok", Usage: aitest.Usage{Input: 1000, Output: 200}}
	})
	p := h.mustAdmin("POST", "/admin/v1/providers", map[string]any{"name": "oai", "type": "openai",
		"base_url": f.Provider("oai").BaseURL, "api_keys": []string{aitest.DefaultKey(aitest.OpenAI)}})
	h.mustAdmin("POST", "/admin/v1/models", map[string]any{"name": "chat", "price": map[string]any{"input_per_1m": "0.15", "output_per_1m": "0.60"},
		"targets": []map[string]any{{"provider": p["id"], "model": "upstream-model"}}})
}
