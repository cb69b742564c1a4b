package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gatehouse/internal/domain"
	"gatehouse/internal/secrets"
	"gatehouse/internal/store"
)

// Provider keys of the tests: long and distinctive, so a leak anywhere is
// found by a plain substring search.
const (
	provKeyA = "sk-proj-AAAAaaaa1111bbbbCCCC2222ddddEEEE3333leakA"
	provKeyB = "sk-proj-BBBBbbbb4444ccccDDDD5555eeeeFFFF6666leakB"
	provKeyC = "sk-ant-api03-CCCCcccc7777ddddEEEE8888ffffleakC"
)

// storedProvider reads a provider straight from the store (sealed keys
// included, as the snapshot will).
func storedProvider(t *testing.T, e *testEnv, ref string) domain.Provider {
	t.Helper()
	var p domain.Provider
	err := e.store.View(context.Background(), func(tx store.Tx) (err error) {
		p, err = tx.(store.AITx).GetProvider(context.Background(), ref)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func storedModel(t *testing.T, e *testEnv, ref string) domain.Model {
	t.Helper()
	var m domain.Model
	err := e.store.View(context.Background(), func(tx store.Tx) (err error) {
		m, err = tx.(store.AITx).GetModel(context.Background(), ref)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestProviderCreateAndValidate(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		desc   string
		body   map[string]any
		status int
		want   map[string]any // answer fields, or for a problem the detail's fragments under "detail"
	}{
		{"openai with two keys: count and last four only", map[string]any{"name": "openai", "type": "openai", "api_keys": []string{provKeyA, provKeyB}},
			201, map[string]any{"name": "openai", "type": "openai", "key_count": float64(2)}},
		{"an OpenAI-compatible server at its own base URL", map[string]any{"name": "groq", "type": "openai", "base_url": "https://api.groq.com/openai/v1",
			"api_keys": []string{"gsk_short"}}, 201, map[string]any{"base_url": "https://api.groq.com/openai/v1", "key_count": float64(1)}},
		{"azure with version and deployments", map[string]any{"name": "azure-east", "type": "azure-openai", "base_url": "https://east.openai.azure.com",
			"api_keys": []string{provKeyC}, "api_version": "2024-10-21", "deployments": map[string]string{"gpt-4o": "prod-4o"}},
			201, map[string]any{"api_version": "2024-10-21"}},
		{"anthropic takes an api_version (its version header)", map[string]any{"name": "anthropic", "type": "anthropic", "api_keys": []string{"k-anthropic"},
			"api_version": "2023-06-01"}, 201, map[string]any{"type": "anthropic"}},
		{"type is required", map[string]any{"name": "x", "api_keys": []string{"k"}}, 400, map[string]any{"detail": "type is required"}},
		{"an unknown type is named", map[string]any{"name": "x", "type": "bedrock", "api_keys": []string{"k"}}, 400,
			map[string]any{"detail": `type "bedrock" is not one of`}},
		{"azure needs base_url", map[string]any{"name": "x", "type": "azure-openai", "api_keys": []string{"k"}}, 400,
			map[string]any{"detail": "base_url is required for azure-openai"}},
		{"a base_url must be http(s)", map[string]any{"name": "x", "type": "openai", "base_url": "ftp://h", "api_keys": []string{"k"}}, 400,
			map[string]any{"detail": "must start with http:// or https://"}},
		{"a base_url carries no credentials", map[string]any{"name": "x", "type": "openai", "base_url": "https://u:p@h", "api_keys": []string{"k"}}, 400,
			map[string]any{"detail": "carries credentials"}},
		{"api_version is not for openai", map[string]any{"name": "x", "type": "openai", "api_version": "1", "api_keys": []string{"k"}}, 400,
			map[string]any{"detail": "api_version is for azure-openai"}},
		{"deployments are for azure only", map[string]any{"name": "x", "type": "gemini", "deployments": map[string]string{"a": "b"},
			"api_keys": []string{"k"}}, 400, map[string]any{"detail": "deployments are for azure-openai"}},
		{"a bad deployment name", map[string]any{"name": "x", "type": "azure-openai", "base_url": "https://a.openai.azure.com",
			"deployments": map[string]string{"gpt-4o": "a/b"}, "api_keys": []string{"k"}}, 400, map[string]any{"detail": `deployments["gpt-4o"]`}},
		{"at least one key", map[string]any{"name": "x", "type": "openai"}, 400, map[string]any{"detail": "api_keys is required"}},
		{"a key with a newline is refused by position, unechoed", map[string]any{"name": "x", "type": "openai",
			"api_keys": []string{provKeyA + "\n"}}, 400, map[string]any{"detail": "api_keys[0] must be printable ASCII"}},
		{"a repeated key is refused by position", map[string]any{"name": "x", "type": "openai", "api_keys": []string{provKeyB, provKeyB}}, 400,
			map[string]any{"detail": "api_keys[1] repeats api_keys[0]"}},
		{"a taken name", map[string]any{"name": "openai", "type": "openai", "api_keys": []string{"k"}}, 409, map[string]any{"detail": `"openai"`}},
		{"an id-like name", map[string]any{"name": "prv_x", "type": "openai", "api_keys": []string{"k"}}, 400,
			map[string]any{"detail": "starts like a generated id"}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			r := e.do(e.root, "POST", "/admin/v1/providers", tc.body)
			if tc.status/100 != 2 {
				code := map[int]string{400: CodeInvalid, 409: CodeConflict}[tc.status]
				d := problemOf(t, r, tc.status, code)
				if !strings.Contains(d, tc.want["detail"].(string)) {
					t.Fatalf("detail %q lacks %q", d, tc.want["detail"])
				}
				for _, k := range []string{provKeyA, provKeyB} {
					if strings.Contains(string(r.Body), k) {
						t.Fatal("a problem echoes a provider key")
					}
				}
				return
			}
			if r.Status != tc.status {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			got := r.JSON(t)
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v (%s)", k, got[k], v, r.Body)
				}
			}
			if _, ok := got["api_keys"]; ok {
				t.Errorf("the answer has api_keys: %s", r.Body)
			}
		})
	}

	t.Run("keys are sealed in the store and open to what was sent, in order", func(t *testing.T) {
		p := storedProvider(t, e, "openai")
		box, _ := secrets.New(testMasterKey)
		if len(p.Keys) != 2 {
			t.Fatalf("stored keys %d", len(p.Keys))
		}
		for i, want := range []string{provKeyA, provKeyB} {
			if !strings.HasPrefix(p.Keys[i].Sealed, "gs1:"+box.KeyID()+":") {
				t.Fatalf("key %d is not sealed: %q", i, p.Keys[i].Sealed)
			}
			plain, err := box.Open(p.Keys[i].Sealed)
			if err != nil || string(plain) != want {
				t.Fatalf("Open(key %d) = %q, %v", i, plain, err)
			}
			if p.Keys[i].Last4 != want[len(want)-4:] {
				t.Errorf("key %d last4 %q", i, p.Keys[i].Last4)
			}
		}
		// A short key shows nothing of itself.
		if g := storedProvider(t, e, "groq"); g.Keys[0].Last4 != "" {
			t.Errorf("a 9-character key shows %q", g.Keys[0].Last4)
		}
	})
	t.Run("get by name and list", func(t *testing.T) {
		g := e.must(200, "GET", "/admin/v1/providers/openai", nil).JSON(t)
		keys, _ := g["keys"].([]any)
		if len(keys) != 2 || keys[0].(map[string]any)["last4"] != "eakA" || keys[1].(map[string]any)["last4"] != "eakB" {
			t.Fatalf("keys %v", g["keys"])
		}
		if n := len(e.must(200, "GET", "/admin/v1/providers", nil).items(t)); n != 4 {
			t.Fatalf("%d providers listed, want 4", n)
		}
		if items := e.must(200, "GET", "/admin/v1/providers?name=groq", nil).items(t); len(items) != 1 || items[0]["name"] != "groq" {
			t.Fatalf("filtered list %v", items)
		}
		problemOf(t, e.do(e.root, "GET", "/admin/v1/providers/nope", nil), 404, CodeNotFound)
	})
	t.Run("PATCH without api_keys keeps them; with api_keys replaces them all", func(t *testing.T) {
		before := storedProvider(t, e, "openai")
		r := e.must(200, "PATCH", "/admin/v1/providers/openai", map[string]any{"base_url": "https://proxy.example.com/v1"}).JSON(t)
		if r["base_url"] != "https://proxy.example.com/v1" || r["key_count"] != float64(2) {
			t.Fatalf("%v", r)
		}
		if after := storedProvider(t, e, "openai"); after.Keys[0].Sealed != before.Keys[0].Sealed || after.Keys[1].Sealed != before.Keys[1].Sealed {
			t.Fatal("a PATCH without api_keys changed the keys")
		}
		r = e.must(200, "PATCH", "/admin/v1/providers/openai", map[string]any{"api_keys": []string{provKeyC}}).JSON(t)
		if r["key_count"] != float64(1) {
			t.Fatalf("%v", r)
		}
		box, _ := secrets.New(testMasterKey)
		plain, _ := box.Open(storedProvider(t, e, "openai").Keys[0].Sealed)
		if string(plain) != provKeyC {
			t.Fatal("replaced key does not open to the new one")
		}
		problemOf(t, e.do(e.root, "PATCH", "/admin/v1/providers/openai", map[string]any{"api_keys": []string{}}), 400, CodeInvalid)
		problemOf(t, e.do(e.root, "PATCH", "/admin/v1/providers/openai", map[string]any{"name": "groq"}), 409, CodeConflict)
	})
	t.Run("without a master key, keys are refused, not stored in the clear", func(t *testing.T) {
		e2 := newEnvWith(t, func(c *Config) { c.Secrets = nil })
		d := problemOf(t, e2.do(e2.root, "POST", "/admin/v1/providers", map[string]any{"name": "o", "type": "openai", "api_keys": []string{provKeyA}}),
			500, CodeInternal)
		if !strings.Contains(d, "no master key") {
			t.Fatal(d)
		}
	})
}

// TestProviderKeysNeverLeak sends provider keys through every path that
// takes them, successful and failed, then greps every answer, the audit
// log (API and store), the log output and the database files.
func TestProviderKeysNeverLeak(t *testing.T) {
	var logs syncBuffer
	e := newEnvWith(t, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	var answers strings.Builder
	keep := func(r resp) { answers.Write(r.Body) }
	keep(e.must(201, "POST", "/admin/v1/providers", map[string]any{"name": "openai", "type": "openai", "api_keys": []string{provKeyA, provKeyB}}))
	keep(e.must(200, "PATCH", "/admin/v1/providers/openai", map[string]any{"api_keys": []string{provKeyC, provKeyA}}))
	keep(e.do(e.root, "POST", "/admin/v1/providers", map[string]any{"name": "openai", "type": "openai", "api_keys": []string{provKeyB}})) // 409
	keep(e.do(e.root, "POST", "/admin/v1/providers", map[string]any{"name": "bad", "type": "nope", "api_keys": []string{provKeyB}}))      // 400
	keep(e.do(e.root, "POST", "/admin/v1/providers", map[string]any{"name": "bad", "type": "openai", "api_keys": []string{provKeyB + " "}}))
	_, viewer := e.newAdmin("auditor", domain.RoleViewer, "")
	keep(e.do(viewer, "PATCH", "/admin/v1/providers/openai", map[string]any{"api_keys": []string{provKeyB}})) // 403, audited
	keep(e.must(200, "GET", "/admin/v1/providers/openai", nil))
	keep(e.must(200, "GET", "/admin/v1/providers", nil))
	keep(e.must(201, "POST", "/admin/v1/models", map[string]any{"name": "gpt-4o-mini", "targets": []map[string]string{{"provider": "openai", "model": "gpt-4o-mini"}}}))
	keep(e.must(200, "GET", "/admin/v1/models", nil))
	keep(e.must(200, "GET", "/admin/v1/audit?limit=1000", nil))
	everything := answers.String() + fmtAny(e.auditAll()) + logs.String()
	if !strings.Contains(everything, "provider.update") || !strings.Contains(logs.String(), "admin change") {
		t.Fatalf("the audit log or the logs miss the changes: %s", logs.String())
	}
	for i, k := range []string{provKeyA, provKeyB, provKeyC} {
		if strings.Contains(everything, k) {
			t.Errorf("provider key %d appears in an answer, the audit log or a log line", i)
		}
		// Nor its body without the easy prefix.
		if strings.Contains(everything, k[8:len(k)-4]) {
			t.Errorf("the middle of provider key %d appears in an answer, the audit log or a log line", i)
		}
	}
	if strings.Contains(everything, "gs1:") {
		t.Error("a sealed key appears in an answer, the audit log or a log line")
	}
	files, _ := filepath.Glob(filepath.Join(filepath.Dir(e.store.Path()), "*"))
	if len(files) == 0 {
		t.Fatal("no database files")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, k := range []string{provKeyA, provKeyB, provKeyC} {
			if bytes.Contains(b, []byte(k)) {
				t.Errorf("provider key %d is in %s in the clear", i, filepath.Base(f))
			}
		}
	}
}

func TestModels(t *testing.T) {
	e := newEnvWith(t, func(c *Config) {
		c.Prices = map[string]domain.Price{"llama3:8b": {InputPer1M: 0, OutputPer1M: 0}, "gpt-4o": {InputPer1M: 2_000_000, OutputPer1M: 8_000_000}}
	})
	e.must(201, "POST", "/admin/v1/providers", map[string]any{"name": "openai", "type": "openai", "api_keys": []string{provKeyA}})
	e.must(201, "POST", "/admin/v1/providers", map[string]any{"name": "ollama", "type": "openai", "base_url": "http://127.0.0.1:11434/v1", "api_keys": []string{"ollama"}})
	e.must(201, "POST", "/admin/v1/providers", map[string]any{"name": "anthropic", "type": "anthropic", "api_keys": []string{provKeyC}})
	tg := func(p, m string) map[string]string { return map[string]string{"provider": p, "model": m} }
	cases := []struct {
		desc      string
		body      map[string]any
		status    int
		wantPrice map[string]any // the answer's price, or nil
		wantStore domain.Price   // micro-units in the store
		detail    string
	}{
		{"explicit decimal prices, a number literal too", map[string]any{"name": "mini", "targets": []map[string]string{tg("openai", "gpt-4o-mini")},
			"price": map[string]any{"input_per_1m": "0.15", "cached_input_per_1m": 0.075, "output_per_1m": "0.60"}}, 201,
			map[string]any{"input_per_1m": "0.15", "cached_input_per_1m": "0.075", "output_per_1m": "0.6"},
			domain.Price{InputPer1M: 150_000, CachedInputPer1M: 75_000, OutputPer1M: 600_000}, ""},
		{"cached input defaults to the input price", map[string]any{"name": "c", "targets": []map[string]string{tg("openai", "x")},
			"price": map[string]any{"input_per_1m": "1.000001", "output_per_1m": "2"}}, 201,
			map[string]any{"input_per_1m": "1.000001", "cached_input_per_1m": "1.000001", "output_per_1m": "2"},
			domain.Price{InputPer1M: 1_000_001, CachedInputPer1M: 1_000_001, OutputPer1M: 2_000_000}, ""},
		{"no price: the shipped default of the target model, dated", map[string]any{"name": "gpt-4o-mini",
			"targets": []map[string]string{tg("openai", "gpt-4o-mini")}}, 201,
			map[string]any{"input_per_1m": "0.15", "cached_input_per_1m": "0.075", "output_per_1m": "0.6", "source": "defaults " + domain.DefaultPricesAsOf},
			domain.Price{InputPer1M: 150_000, CachedInputPer1M: 75_000, OutputPer1M: 600_000, Source: "defaults " + domain.DefaultPricesAsOf}, ""},
		{"no price: a dated Anthropic version matches, cache writes too", map[string]any{"name": "haiku",
			"targets": []map[string]string{tg("anthropic", "claude-3-5-haiku-20241022")}}, 201, nil,
			domain.Price{InputPer1M: 800_000, CachedInputPer1M: 80_000, OutputPer1M: 4_000_000, CacheWritePer1M: 1_000_000,
				Source: "defaults " + domain.DefaultPricesAsOf}, ""},
		{"no price: configured prices win over the shipped ones", map[string]any{"name": "4o", "targets": []map[string]string{tg("openai", "gpt-4o")}}, 201,
			map[string]any{"input_per_1m": "2", "source": "config"},
			domain.Price{InputPer1M: 2_000_000, CachedInputPer1M: 2_000_000, OutputPer1M: 8_000_000, Source: "config"}, ""},
		{"no price: the first target with a price, in order", map[string]any{"name": "local-first",
			"targets": []map[string]string{tg("ollama", "mistral-nemo"), tg("ollama", "llama3:8b")}}, 201,
			map[string]any{"input_per_1m": "0", "output_per_1m": "0", "source": "config"}, domain.Price{Source: "config"}, ""},
		{"no price and none known", map[string]any{"name": "u", "targets": []map[string]string{tg("ollama", "qwen2.5")}}, 400, nil, domain.Price{},
			"no configured or shipped default price is known for qwen2.5"},
		{"seven decimals are refused, not rounded", map[string]any{"name": "u", "targets": []map[string]string{tg("openai", "x")},
			"price": map[string]any{"input_per_1m": "0.1234567", "output_per_1m": "1"}}, 400, nil, domain.Price{},
			"price.input_per_1m: amount \"0.1234567\" has more than 6 decimal places"},
		{"a negative price", map[string]any{"name": "u", "targets": []map[string]string{tg("openai", "x")},
			"price": map[string]any{"input_per_1m": "1", "output_per_1m": "-1"}}, 400, nil, domain.Price{}, "price.output_per_1m"},
		{"an exponent", map[string]any{"name": "u", "targets": []map[string]string{tg("openai", "x")},
			"price": map[string]any{"input_per_1m": json.RawMessage("1e-3"), "output_per_1m": "1"}}, 400, nil, domain.Price{}, "price.input_per_1m"},
		{"a price without output", map[string]any{"name": "u", "targets": []map[string]string{tg("openai", "x")},
			"price": map[string]any{"input_per_1m": "1"}}, 400, nil, domain.Price{}, "price needs input_per_1m and output_per_1m"},
		{"targets are required", map[string]any{"name": "u"}, 400, nil, domain.Price{}, "targets is required"},
		{"an unknown provider is named", map[string]any{"name": "u", "targets": []map[string]string{tg("openai", "gpt-4o-mini"), tg("azure", "gpt-4o-mini")}},
			400, nil, domain.Price{}, `targets[1].provider "azure" is not a provider`},
		{"a model name with a slash", map[string]any{"name": "openai/gpt", "targets": []map[string]string{tg("openai", "x")}}, 400, nil, domain.Price{},
			`model name "openai/gpt"`},
		{"a taken name", map[string]any{"name": "mini", "targets": []map[string]string{tg("openai", "gpt-4o-mini")}}, 409, nil, domain.Price{}, `"mini"`},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			r := e.do(e.root, "POST", "/admin/v1/models", tc.body)
			if tc.status != 201 {
				d := problemOf(t, r, tc.status, map[int]string{400: CodeInvalid, 409: CodeConflict}[tc.status])
				if !strings.Contains(d, tc.detail) {
					t.Fatalf("detail %q lacks %q", d, tc.detail)
				}
				return
			}
			if r.Status != 201 {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			got := r.JSON(t)
			price, _ := got["price"].(map[string]any)
			for k, v := range tc.wantPrice {
				if price[k] != v {
					t.Errorf("price.%s = %v, want %v", k, price[k], v)
				}
			}
			if m := storedModel(t, e, got["id"].(string)); m.Price != tc.wantStore {
				t.Errorf("stored price %+v, want %+v", m.Price, tc.wantStore)
			}
		})
	}

	t.Run("targets keep their order and name their providers", func(t *testing.T) {
		r := e.must(201, "POST", "/admin/v1/models", map[string]any{"name": "chat", "targets": []map[string]string{tg("anthropic", "claude-sonnet-4"),
			tg("openai", "gpt-4o")}, "max_output_tokens": 2048}).JSON(t)
		ts := r["targets"].([]any)
		if ts[0].(map[string]any)["provider_name"] != "anthropic" || ts[1].(map[string]any)["model"] != "gpt-4o" {
			t.Fatalf("targets %v", ts)
		}
		m := storedModel(t, e, "chat")
		if m.MaxOutputTokens != 2048 || len(m.Targets) != 2 || !strings.HasPrefix(m.Targets[0].ProviderID, "prv_") {
			t.Fatalf("stored %+v", m)
		}
		if m.Price.Source != "defaults "+domain.DefaultPricesAsOf || m.Price.InputPer1M != 3_000_000 {
			t.Fatalf("price of the first target with a default: %+v", m.Price)
		}
	})
	t.Run("PATCH: targets replace; the name cannot change; price null returns to the default", func(t *testing.T) {
		e.must(200, "PATCH", "/admin/v1/models/chat", map[string]any{"targets": []map[string]string{tg("openai", "gpt-4o-mini")}})
		if m := storedModel(t, e, "chat"); len(m.Targets) != 1 || m.Targets[0].Model != "gpt-4o-mini" || m.Price.InputPer1M != 3_000_000 {
			t.Fatalf("after PATCH targets: %+v (the price stays)", m)
		}
		e.must(200, "PATCH", "/admin/v1/models/chat", map[string]any{"price": map[string]any{"output_per_1m": "20"}})
		if m := storedModel(t, e, "chat"); m.Price.OutputPer1M != 20_000_000 || m.Price.InputPer1M != 3_000_000 || m.Price.Source != "" {
			t.Fatalf("after PATCH price.output: %+v", m.Price)
		}
		e.must(200, "PATCH", "/admin/v1/models/chat", map[string]any{"price": nil})
		if m := storedModel(t, e, "chat"); m.Price.InputPer1M != 150_000 || m.Price.Source == "" {
			t.Fatalf("after PATCH price null: %+v", m.Price)
		}
		d := problemOf(t, e.do(e.root, "PATCH", "/admin/v1/models/chat", map[string]any{"name": "chat2"}), 400, CodeInvalid)
		if !strings.Contains(d, "cannot change") {
			t.Fatal(d)
		}
	})
	t.Run("a provider a model targets cannot be deleted; the message names the models", func(t *testing.T) {
		d := problemOf(t, e.do(e.root, "DELETE", "/admin/v1/providers/openai", nil), 409, CodeConflict)
		if !strings.Contains(d, "chat") || !strings.Contains(d, "mini") {
			t.Fatal(d)
		}
	})
	t.Run("get, list and delete", func(t *testing.T) {
		if g := e.must(200, "GET", "/admin/v1/models/mini", nil).JSON(t); g["name"] != "mini" {
			t.Fatal(g)
		}
		if items := e.must(200, "GET", "/admin/v1/models?name=haiku", nil).items(t); len(items) != 1 {
			t.Fatal(items)
		}
		e.must(204, "DELETE", "/admin/v1/models/mini", nil)
		problemOf(t, e.do(e.root, "GET", "/admin/v1/models/mini", nil), 404, CodeNotFound)
		problemOf(t, e.do(e.root, "DELETE", "/admin/v1/models/mini", nil), 404, CodeNotFound)
	})
	t.Run("the snapshot's Load carries providers and models", func(t *testing.T) {
		d, err := e.store.Load(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Providers) != 3 || len(d.Models) != 6 {
			t.Fatalf("Load: %d providers, %d models", len(d.Providers), len(d.Models))
		}
	})
}
