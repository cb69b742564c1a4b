package ai_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"gatehouse/internal/ai"
	"gatehouse/internal/ai/aitest"
)

// authHeader is where each provider kind must receive its key.
var authHeader = map[aitest.Kind]struct{ name, prefix string }{
	aitest.OpenAI:    {"Authorization", "Bearer "},
	aitest.Azure:     {"Api-Key", ""},
	aitest.Anthropic: {"X-Api-Key", ""},
	aitest.Gemini:    {"X-Goog-Api-Key", ""},
}

// TestProviderKeyOnlyInItsHeader: every request a provider receives
// carries the key in exactly the provider's auth header and nowhere else
// (no other header, no URL, no body), and never the caller's Gatehouse key.
func TestProviderKeyOnlyInItsHeader(t *testing.T) {
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			f := aitest.New(t, kind)
			f.Set(aitest.Scenario{Text: "hi", Usage: aitest.Usage{Input: 1, Output: 1}})
			g := newGateway(t, oneModel(f, "x"), nil)
			g.post(t, "/v1/chat/completions", chatBody("m", false, nil))
			g.post(t, "/v1/chat/completions", chatBody("m", true, nil))
			calls := 2
			if kind != aitest.Anthropic {
				g.post(t, "/v1/embeddings", map[string]any{"model": "m", "input": "hello"})
				calls++
			}
			var seen strings.Builder
			for range calls {
				fmt.Fprintf(&seen, "%+v", g.result(t))
			}
			seen.WriteString(g.logs.String())
			if strings.Contains(seen.String(), f.Keys[0]) {
				t.Error("the provider key is in a Result or a log line")
			}
			reqs := f.Requests()
			if len(reqs) != calls {
				t.Fatalf("provider saw %d requests, want %d", len(reqs), calls)
			}
			key := f.Keys[0]
			ah := authHeader[kind]
			for i, r := range reqs {
				where := fmt.Sprintf("request %d (%s %s)", i, r.Method, r.Path)
				if got := r.Header.Values(ah.name); len(got) != 1 || got[0] != ah.prefix+key {
					t.Errorf("%s: %s = %q, want the key there", where, ah.name, got)
				}
				for name, vals := range r.Header {
					for _, v := range vals {
						if name != ah.name && strings.Contains(v, key) {
							t.Errorf("%s: key in header %s", where, name)
						}
						if strings.Contains(v, gatewayKey) || strings.Contains(v, "gk_test_") {
							t.Errorf("%s: the caller's Gatehouse key reached the provider in %s", where, name)
						}
					}
				}
				if strings.Contains(r.Path, key) || strings.Contains(r.RawQuery, key) || strings.Contains(r.RawQuery, "key=") {
					t.Errorf("%s: key in the URL (query %q)", where, r.RawQuery)
				}
				if strings.Contains(string(r.Body), key) || strings.Contains(string(r.Body), gatewayKey) {
					t.Errorf("%s: a key in the body", where)
				}
				if kind == aitest.Gemini && strings.Contains(r.Path, "streamGenerateContent") && r.RawQuery != "alt=sse" {
					t.Errorf("%s: query %q, want alt=sse", where, r.RawQuery)
				}
				if kind == aitest.Azure && (!strings.HasPrefix(r.Path, "/openai/deployments/x/") || !strings.HasPrefix(r.RawQuery, "api-version=")) {
					t.Errorf("%s: azure URL %s?%s", where, r.Path, r.RawQuery)
				}
				if kind == aitest.Anthropic && r.Header.Get("Anthropic-Version") != ai.DefaultAnthropicVersion {
					t.Errorf("%s: anthropic-version %q", where, r.Header.Get("Anthropic-Version"))
				}
			}
		})
	}
}

// TestNoProviderKeyLeaks: provider errors that echo the key (whole and
// partly masked) reach neither the client (body, headers), nor a log line,
// nor the Result.
func TestNoProviderKeyLeaks(t *testing.T) {
	for _, kind := range kinds {
		for _, sc := range []aitest.Scenario{
			{Status: 401, EchoKey: true},
			{Status: 429, EchoKey: true},
			{Status: 500, EchoKey: true},
			{Chunks: []string{"a", "b"}, Fail: aitest.FailError, FailAt: 1, EchoKey: true},
			{Chunks: []string{"a", "b"}, Fail: aitest.FailError, FailAt: -1, EchoKey: true},
		} {
			name := fmt.Sprintf("%s/status %d fail %d@%d", kind, sc.Status, sc.Fail, sc.FailAt)
			t.Run(name, func(t *testing.T) {
				// A second key that the fake accepts, to catch leaks of any.
				key2 := aitest.DefaultKey(kind) + "Second"
				f := aitest.New(t, kind, aitest.DefaultKey(kind), key2)
				f.Set(sc)
				g := newGateway(t, oneModel(f, "x"), nil)
				var seen strings.Builder
				modes := []bool{false, true}
				if sc.Status == 0 {
					modes = []bool{true} // stream failures
				}
				for _, stream := range modes {
					resp, body := g.post(t, "/v1/chat/completions", chatBody("m", stream, nil))
					res := g.result(t)
					fmt.Fprintf(&seen, "%s %v %+v %+v", body, resp.Header, res, res.Attempts)
					if res.Err != nil {
						fmt.Fprintf(&seen, " %s %s %s", res.Err.Error(), res.Err.Debug, res.Err.Detail)
					}
					if res.Err == nil {
						t.Errorf("stream=%v: no error in the Result", stream)
					}
				}
				seen.WriteString(g.logs.String())
				if !strings.Contains(g.logs.String(), "ai ") {
					t.Error("the failure was not logged")
				}
				all := seen.String()
				for _, k := range f.Keys {
					if strings.Contains(all, k) || strings.Contains(all, k[:8]) {
						t.Errorf("provider key (or its first 8 characters) leaked:\n%s", all)
					}
				}
				if !strings.Contains(all, "[REDACTED]") && sc.Status != 0 {
					t.Errorf("the echoed key was not visibly redacted in the operator's view")
				}
			})
		}
	}
}

// TestKeysBalanced: several keys of one provider are used in turn.
func TestKeysBalanced(t *testing.T) {
	keys := []string{"sk-proj-first-key-aaaaaaaaaaaaaaaa", "sk-proj-second-key-bbbbbbbbbbbbbbb", "sk-proj-third-key-cccccccccccccccc"}
	f := aitest.New(t, aitest.OpenAI, keys...)
	g := newGateway(t, oneModel(f, "x"), nil)
	for i := range 6 {
		resp, _ := g.post(t, "/v1/chat/completions", chatBody("m", i%2 == 1, nil))
		if resp.StatusCode != 200 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if got := g.result(t).Attempts[0].KeyIndex; got != i%3 {
			t.Errorf("call %d used key #%d, want #%d", i, got, i%3)
		}
	}
	for i, r := range f.Requests() {
		if got := r.Header.Get("Authorization"); got != "Bearer "+keys[i%3] {
			t.Errorf("request %d sent the wrong key", i)
		}
	}
}

// TestRedirectNotFollowed: a provider answering a redirect does not get
// the key carried to another host.
func TestRedirectNotFollowed(t *testing.T) {
	elsewhere := aitest.New(t, aitest.Anthropic)
	redirector := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+r.URL.Path, http.StatusTemporaryRedirect)
	})
	f := aitest.New(t, aitest.Anthropic)
	f.Config.Handler = redirector
	g := newGateway(t, oneModel(f, "x"), nil)
	resp, body := g.post(t, "/v1/chat/completions", chatBody("m", false, nil))
	g.result(t)
	if resp.StatusCode != 502 {
		t.Errorf("status %d: %s", resp.StatusCode, body)
	}
	if n := len(elsewhere.Requests()); n != 0 {
		t.Errorf("the redirect was followed with the key (%d requests elsewhere)", n)
	}
}
