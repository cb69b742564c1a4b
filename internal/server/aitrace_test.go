package server

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/ai/aitest"
)

// An AI route answers its own rejections (in the OpenAI shape), and each
// must leave the operator what any rejection leaves: the decision trace
// behind the request ID, with the AI handler's steps — the model asked
// for and what it resolved to, the budget under the limit stage, every
// provider attempt with its status — the requested model on the call
// record, and a "rejected" log line with the request ID.
func TestAIRejectionsKeepTheirTrace(t *testing.T) {
	h := newHarness(t)
	w := h.newWorld("acme", nil, nil)
	f := aitest.New(t, aitest.OpenAI)
	f.Script(func(r aitest.Request) aitest.Scenario {
		if r.JSON()["model"] == "upstream-broken" {
			return aitest.Scenario{Status: 500}
		}
		return aitest.Scenario{Text: "ok", Usage: aitest.Usage{Input: 1000, Output: 200}}
	})
	p := h.mustAdmin("POST", "/admin/v1/providers", map[string]any{"name": "oai", "type": "openai",
		"base_url": f.Provider("oai").BaseURL, "api_keys": []string{aitest.DefaultKey(aitest.OpenAI)}})
	price := map[string]any{"input_per_1m": "0.15", "output_per_1m": "0.60"}
	h.mustAdmin("POST", "/admin/v1/models", map[string]any{"name": "chat", "price": price,
		"targets": []map[string]any{{"provider": p["id"], "model": "upstream-model"}}})
	h.mustAdmin("POST", "/admin/v1/models", map[string]any{"name": "broken", "price": price,
		"targets": []map[string]any{{"provider": p["id"], "model": "upstream-broken"}}})
	h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{"/llm"}, "type": "ai"})
	_, key := h.newKey(w.consumer, nil)
	ask := func(model string) response {
		return postJSON(h, "/llm/v1/chat/completions",
			fmt.Sprintf(`{"model":%q,"max_tokens":200,"messages":[{"role":"user","content":"hi"}]}`, model), bearer(key)...)
	}

	// A budget that one call exhausts (270 micros): the second is refused.
	h.mustAdmin("POST", "/admin/v1/budgets", map[string]any{"scope": "consumer", "scope_id": w.consumer, "amount": "0.0001", "period": "day"})
	first := ask("chat")
	if first.status != 200 {
		t.Fatalf("first call: %d %s", first.status, first.raw)
	}
	// §6: the record has the answer's size.
	if got := h.waitCall(first.header.Get("X-Request-Id"))["bytes_out"]; got != float64(len(first.raw)) {
		t.Errorf("bytes_out %v, want %d", got, len(first.raw))
	}

	cases := []struct {
		desc, model string
		status      int
		code        string
		steps       []string // fragments of "stage check outcome: detail" lines the stored trace must hold, in order
	}{
		{"an unknown model", "no-such-model", 404, "ai.model_unknown",
			[]string{"forward ai model fail"}},
		{"the budget", "chat", 429, "budget.exceeded",
			[]string{"forward ai model pass: chat", "limit ai budget fail"}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			r := ask(tc.model)
			e, _ := r.body["error"].(map[string]any)
			if r.status != tc.status || e == nil || e["code"] != tc.code {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			checkStoredTrace(t, h, r.header.Get("X-Request-Id"), tc.code, tc.model, tc.steps)
		})
	}

	t.Run("a provider failure names each attempt's status", func(t *testing.T) {
		h.mustAdmin("POST", "/admin/v1/budgets", map[string]any{"scope": "tenant", "scope_id": w.tenant, "amount": "100", "period": "day"})
		// A fresh consumer, outside the exhausted consumer budget.
		c := h.mustAdmin("POST", "/admin/v1/consumers", map[string]any{"tenant": w.tenant, "name": "other-app"})["id"].(string)
		_, k2 := h.newKey(c, nil)
		r := postJSON(h, "/llm/v1/chat/completions", `{"model":"broken","messages":[{"role":"user","content":"hi"}]}`, bearer(k2)...)
		if r.status < 500 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		checkStoredTrace(t, h, r.header.Get("X-Request-Id"), "ai.provider_error", "broken",
			[]string{"forward ai model pass: broken → oai/upstream-broken", "forward ai provider fail: oai/upstream-broken: error (HTTP 500", "forward ai fail"})
	})
}

// checkStoredTrace reads call id through the admin API and checks its
// code, its AI model, its trace steps (in order) and the log line.
func checkStoredTrace(t *testing.T, h *harness, id, code, model string, steps []string) {
	t.Helper()
	call := h.waitCall(id)
	if call["code"] != code {
		t.Errorf("stored code %v, want %s", call["code"], code)
	}
	if a, _ := call["ai"].(map[string]any); a == nil || a["alias"] != model {
		t.Errorf("the call record does not name the model asked for (%q): ai %v", model, call["ai"])
	}
	raw, _ := call["trace"].([]any)
	var lines []string
	for _, s := range raw {
		m, _ := s.(map[string]any)
		lines = append(lines, fmt.Sprintf("%v %v %v: %v", m["stage"], m["check"], m["outcome"], m["detail"]))
	}
	at := 0
	for _, want := range steps {
		for at < len(lines) && !strings.Contains(lines[at], want) {
			at++
		}
		if at == len(lines) {
			t.Errorf("the stored trace has no step %q after the ones before it:\n%s", want, strings.Join(lines, "\n"))
			return
		}
	}
	if !strings.Contains(h.logs.String(), "request_id="+id) {
		t.Errorf("no log line names request %s", id)
	}
}

// §8's max_body holds on AI and prompt routes whatever the framing: a
// chunked body has no Content-Length for the pipeline to check up front,
// and the AI handler read up to its own 32 MiB instead of the route's
// limit.
func TestAIRouteMaxBodyHoldsForChunkedBodies(t *testing.T) {
	h := newHarness(t)
	w := h.newWorld("acme", nil, nil)
	f := aitest.New(t, aitest.OpenAI)
	f.Script(func(aitest.Request) aitest.Scenario { return aitest.Scenario{Text: "ok"} })
	p := h.mustAdmin("POST", "/admin/v1/providers", map[string]any{"name": "oai", "type": "openai",
		"base_url": f.Provider("oai").BaseURL, "api_keys": []string{aitest.DefaultKey(aitest.OpenAI)}})
	h.mustAdmin("POST", "/admin/v1/models", map[string]any{"name": "chat", "price": map[string]any{"input_per_1m": "0", "output_per_1m": "0"},
		"targets": []map[string]any{{"provider": p["id"], "model": "upstream-model"}}})
	h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{"/llm"}, "type": "ai", "max_body": 1000})
	_, key := h.newKey(w.consumer, nil)
	send := func(content string, chunked bool) *http.Response {
		body := fmt.Sprintf(`{"model":"chat","messages":[{"role":"user","content":%q}]}`, content)
		var rd io.Reader = strings.NewReader(body)
		if chunked {
			rd = io.MultiReader(rd) // no length known: Transfer-Encoding: chunked
		}
		req, _ := http.NewRequest(http.MethodPost, h.proxy+"/llm/v1/chat/completions", rd)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := h.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	for _, chunked := range []bool{false, true} {
		if r := send(strings.Repeat("x", 5000), chunked); r.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("a 5 000-byte body (chunked %v) on a route of max_body 1000: %d, want 413", chunked, r.StatusCode)
		}
		if r := send("hi", chunked); r.StatusCode != 200 {
			t.Errorf("a small body (chunked %v): %d", chunked, r.StatusCode)
		}
	}
	if n := len(f.Requests()); n != 2 {
		t.Errorf("the provider saw %d calls, want 2 (the small ones)", n)
	}
}

// §11's fallback on timeout, within the service's own timeouts: a
// provider that accepts the request and never answers is given up on
// after the service's timeouts.response (it was a fixed five minutes),
// and the next target answers.
func TestAIFallsBackWithinTheServiceTimeout(t *testing.T) {
	h := newHarness(t)
	w := h.newWorld("acme", nil, nil)
	h.mustAdmin("PATCH", "/admin/v1/services/"+w.service, map[string]any{"timeouts": map[string]any{"response": "300ms", "read": "300ms"}})
	// It reads the request (so its server sees the gateway hang up) and
	// never answers.
	silent := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	}))
	t.Cleanup(silent.Close)
	f := aitest.New(t, aitest.OpenAI)
	f.Script(func(aitest.Request) aitest.Scenario { return aitest.Scenario{Text: "ok"} })
	mute := h.mustAdmin("POST", "/admin/v1/providers", map[string]any{"name": "mute", "type": "openai",
		"base_url": silent.URL, "api_keys": []string{aitest.DefaultKey(aitest.OpenAI)}})
	oai := h.mustAdmin("POST", "/admin/v1/providers", map[string]any{"name": "oai", "type": "openai",
		"base_url": f.Provider("oai").BaseURL, "api_keys": []string{aitest.DefaultKey(aitest.OpenAI)}})
	h.mustAdmin("POST", "/admin/v1/models", map[string]any{"name": "chat", "price": map[string]any{"input_per_1m": "0", "output_per_1m": "0"},
		"targets": []map[string]any{{"provider": mute["id"], "model": "m1"}, {"provider": oai["id"], "model": "m2"}}})
	h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{"/llm"}, "type": "ai"})
	_, key := h.newKey(w.consumer, nil)

	start := time.Now()
	done := make(chan response, 1)
	go func() {
		done <- postJSON(h, "/llm/v1/chat/completions", `{"model":"chat","messages":[{"role":"user","content":"hi"}]}`, bearer(key)...)
	}()
	select {
	case r := <-done:
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		call := h.waitCall(r.header.Get("X-Request-Id"))
		a, _ := call["ai"].(map[string]any)
		if got := fmt.Sprint(a["attempts"]); !strings.Contains(got, "mute/m1: timeout") || !strings.Contains(got, "oai/m2: ok") {
			t.Errorf("attempts %s", got)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("the answer took %v", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no answer within 10 s: the service's 300-ms response timeout did not apply")
	}
}

// §6: a rejected call's trace has a step for every stage of §4 — those
// after the one that rejected it as "not reached" skips.
func TestRejectedTraceCoversEveryStage(t *testing.T) {
	h := newHarness(t)
	w := h.newWorld("acme", nil, []string{"orders:write"})
	_, key := h.newKey(w.consumer, nil)
	cases := []struct {
		desc   string
		hdr    []string
		stages string // the stages of the stored trace, in order, each once
		last   string // the skip steps' stages
	}{
		{"rejected at verify", bearer(key[:len(key)-8] + "AAAAAAAA"), "route extract verify identify authorize limit forward", "identify authorize limit forward"},
		{"rejected at authorize", bearer(key), "route extract verify identify authorize limit forward", "limit forward"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			r := h.call("GET", "/acme/x", tc.hdr...)
			if r.status < 400 {
				t.Fatalf("%d %s", r.status, r.raw)
			}
			steps, _ := h.waitCall(r.header.Get("X-Request-Id"))["trace"].([]any)
			var stages, skipped []string
			for _, s := range steps {
				m := s.(map[string]any)
				st := m["stage"].(string)
				if len(stages) == 0 || stages[len(stages)-1] != st {
					stages = append(stages, st)
				}
				if m["detail"] == "not reached" && m["outcome"] == "skip" {
					skipped = append(skipped, st)
				}
			}
			if got := strings.Join(stages, " "); got != tc.stages {
				t.Errorf("stages %q, want %q", got, tc.stages)
			}
			if got := strings.Join(skipped, " "); got != tc.last {
				t.Errorf("not reached: %q, want %q", got, tc.last)
			}
		})
	}
}
