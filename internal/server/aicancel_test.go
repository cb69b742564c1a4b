package server

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/ai/aitest"
)

// TestAIClientHangsUp: a caller that hangs up while the provider is still
// thinking stops the provider call (no tokens generated for nobody): on the
// cleartext listener the gateway notices the closed connection while the
// request waits, cancels it, and the call is recorded at once — not when
// the provider would have answered.
func TestAIClientHangsUp(t *testing.T) {
	h := newHarness(t)
	w := h.newWorld("acme", nil, nil)
	f := aitest.New(t, aitest.OpenAI)
	hold := make(chan struct{}) // the provider answers only when this closes
	t.Cleanup(func() { close(hold) })
	f.Script(func(aitest.Request) aitest.Scenario {
		return aitest.Scenario{Text: "late", Hold: hold, Usage: aitest.Usage{Input: 10, Output: 2}}
	})
	p := h.mustAdmin("POST", "/admin/v1/providers", map[string]any{"name": "slow", "type": "openai",
		"base_url": f.Provider("slow").BaseURL, "api_keys": []string{aitest.DefaultKey(aitest.OpenAI)}})
	h.mustAdmin("POST", "/admin/v1/models", map[string]any{"name": "chat",
		"targets": []map[string]any{{"provider": p["id"], "model": "upstream-model"}},
		"price":   map[string]any{"input_per_1m": "1", "output_per_1m": "1"}})
	h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{"/llm"}, "type": "ai"})
	keyID, key := h.newKey(w.consumer, nil)

	c, err := net.Dial("tcp", strings.TrimPrefix(h.proxy, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	body := `{"model":"chat","messages":[{"role":"user","content":"Why is the sky blue?"}]}`
	fmt.Fprintf(c, "POST /llm/v1/chat/completions HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", key, len(body), body)
	deadline := time.Now().Add(5 * time.Second)
	for len(f.Requests()) == 0 { // the provider has the request
		if time.Now().After(deadline) {
			t.Fatal("the request did not reach the provider")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	left := time.Now()
	c.Close()

	for {
		_, out := h.adminDo("GET", "/admin/v1/calls?consumer="+w.consumer+"&limit=100", nil)
		items, _ := out["items"].([]any)
		for _, it := range items {
			if m := it.(map[string]any); m["credential_id"] == keyID {
				t.Logf("recorded %v after the hang-up: status %v, reason %v", time.Since(left).Round(time.Millisecond), m["status"], m["reason"])
				return
			}
		}
		if time.Since(left) > 5*time.Second {
			t.Fatalf("no call record 5 s after the caller hung up: the provider call is still waiting (%v)", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
