package server

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/ai/aitest"
)

// The credential's notices (spec §3) reach a caller of an AI route as they
// reach one of a proxy route: Gatehouse-Credential-Rotated for a key in its
// rotation grace, Gatehouse-Credential-Expires for one within the warning
// window, neither for an ordinary key — on a plain and on a streamed
// answer. (AI routes carried the rotation notice only: a key about to
// expire was never told so through them.)
func TestAIRouteCarriesCredentialNotices(t *testing.T) {
	h := newHarness(t)
	w := h.newWorld("acme", nil, nil)
	f := aitest.New(t, aitest.OpenAI)
	f.Script(func(aitest.Request) aitest.Scenario {
		return aitest.Scenario{Text: "ok", Usage: aitest.Usage{Input: 10, Output: 2}}
	})
	p := h.mustAdmin("POST", "/admin/v1/providers", map[string]any{"name": "prov", "type": string(aitest.OpenAI),
		"base_url": f.Provider("prov").BaseURL, "api_keys": []string{aitest.DefaultKey(aitest.OpenAI)}})
	h.mustAdmin("POST", "/admin/v1/models", map[string]any{"name": "chat",
		"targets": []map[string]any{{"provider": p["id"], "model": "upstream-model"}},
		"price":   map[string]any{"input_per_1m": "0", "cached_input_per_1m": "0", "output_per_1m": "0"}})
	h.mustAdmin("POST", "/admin/v1/routes", map[string]any{"service": w.service, "paths": []string{"/llm"}, "type": "ai"})

	_, plain := h.newKey(w.consumer, nil)
	oldID, old := h.newKey(w.consumer, nil)
	succID := h.mustAdmin("POST", "/admin/v1/keys/"+oldID+"/rotate", map[string]any{"grace": "24h"})["id"].(string)
	rotated := `successor="` + succID + `"; grace-until="` + t0.Add(24*time.Hour).Format(time.RFC3339) + `"`
	exp := t0.Add(13 * 24 * time.Hour) // inside the 14-day warning window
	_, expiring := h.newKey(w.consumer, map[string]any{"expires_at": exp.Format(time.RFC3339)})

	cases := []struct {
		desc, key        string
		rotated, expires string
	}{
		{"ordinary key", plain, "", ""},
		{"key in its rotation grace", old, rotated, ""},
		{"key near expiry", expiring, "", exp.Format(time.RFC3339)},
	}
	for _, tc := range cases {
		for _, stream := range []bool{false, true} {
			name := tc.desc + ", plain"
			if stream {
				name = tc.desc + ", streamed"
			}
			t.Run(name, func(t *testing.T) {
				body := `{"model":"chat","messages":[{"role":"user","content":"hi"}]`
				if stream {
					body += `,"stream":true`
				}
				req, _ := http.NewRequest("POST", h.proxy+"/llm/v1/chat/completions", strings.NewReader(body+"}"))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+tc.key)
				resp, err := h.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				out, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 200 {
					t.Fatalf("status %d: %s", resp.StatusCode, out)
				}
				if got := resp.Header.Get("Gatehouse-Credential-Rotated"); got != tc.rotated {
					t.Errorf("Gatehouse-Credential-Rotated = %q, want %q", got, tc.rotated)
				}
				if got := resp.Header.Get("Gatehouse-Credential-Expires"); got != tc.expires {
					t.Errorf("Gatehouse-Credential-Expires = %q, want %q", got, tc.expires)
				}
			})
		}
	}
}
