package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

// provKey is a provider key long and distinctive enough that a leak
// anywhere is found by a plain substring search.
const provKey = "sk-proj-CONSOLEleak0123456789abcdefXYZW"

// TestAIProviders: a gateway admin adds a provider through the console
// with its key typed once; no page, redirect, flash, admin API answer or
// audit entry ever shows the key again (only its count and last four
// characters), and the store holds it sealed. Keys can be replaced, the
// provider deleted; viewers and tenant-admins are refused by the API.
func TestAIProviders(t *testing.T) {
	e := newEnv(t)
	e.mustAPI("POST", "/admin/v1/tenants", map[string]any{"slug": "shop"})
	viewer := e.mustAPI("POST", "/admin/v1/admins", map[string]any{"name": "auditor", "role": "viewer"})["token"].(string)
	ta := e.mustAPI("POST", "/admin/v1/admins", map[string]any{"name": "shop-admin", "role": "tenant-admin", "tenant": "shop"})["token"].(string)

	b := newBrowser(t, e.srv.URL)
	csrf := b.login(e.root)
	var seen strings.Builder
	keep := func(p page) page { seen.WriteString(p.body); seen.WriteString(fmt.Sprint(p.header)); return p }

	res := keep(b.post("/console/providers", form("csrf", csrf, "name", "openai-main", "type", "openai", "api_keys", provKey)))
	if res.status != http.StatusSeeOther || res.header.Get("Location") != "/console/providers" {
		t.Fatalf("create: %d %s %s", res.status, res.header.Get("Location"), res.body)
	}
	list := keep(b.get("/console/providers"))
	for _, want := range []string{"openai-main", "created with 1 API key(s), stored encrypted", "…XYZW"} {
		if !strings.Contains(list.body, want) {
			t.Errorf("providers page lacks %q", want)
		}
	}
	// Replace the keys with two new ones.
	id := e.mustAPI("GET", "/admin/v1/providers/openai-main", nil)["id"].(string)
	second := provKey + "SECOND"
	res = keep(b.post("/console/providers/"+id+"/keys", form("csrf", csrf, "api_keys", provKey+"2, "+second)))
	if res.status != http.StatusSeeOther {
		t.Fatalf("replace keys: %d %s", res.status, res.body)
	}
	if p := keep(b.get("/console/providers")); !strings.Contains(p.body, "now has 2 API key(s)") {
		t.Errorf("no confirmation of the new keys: %s", p.body)
	}
	st, body := e.apiDo(e.root, "GET", "/admin/v1/audit?resource=provider", nil)
	raw, _ := json.Marshal(body)
	seen.Write(raw)
	if st != 200 || !strings.Contains(string(raw), "provider.create") || !strings.Contains(string(raw), "provider.update") {
		t.Errorf("audit: %d %s", st, raw)
	}
	if strings.Contains(seen.String(), provKey) || strings.Contains(html.UnescapeString(seen.String()), provKey) {
		t.Fatal("a provider key was shown back after it was entered")
	}
	var stored domain.Provider
	err := e.store.View(context.Background(), func(tx store.Tx) (err error) {
		stored, err = tx.(store.AITx).GetProvider(context.Background(), id)
		return err
	})
	if err != nil || len(stored.Keys) != 2 {
		t.Fatalf("stored provider: %v %+v", err, stored)
	}
	for _, k := range stored.Keys {
		if strings.Contains(k.Sealed, "CONSOLEleak") {
			t.Errorf("key stored in the clear: %q", k.Sealed)
		}
	}

	t.Run("roles", func(t *testing.T) {
		cases := []struct {
			desc, token string
			listStatus  int
			form        bool
			postStatus  int
		}{
			{"a viewer reads, without the form, and is refused a change", viewer, 200, false, 403},
			{"a tenant-admin is refused providers altogether", ta, 403, false, 403},
		}
		for _, tc := range cases {
			t.Run(tc.desc, func(t *testing.T) {
				b := newBrowser(t, e.srv.URL)
				csrf := b.login(tc.token)
				p := b.get("/console/providers")
				if p.status != tc.listStatus {
					t.Errorf("list: %d, want %d", p.status, tc.listStatus)
				}
				if strings.Contains(p.body, "Add a provider") != tc.form {
					t.Errorf("form shown: %v, want %v", !tc.form, tc.form)
				}
				res := b.post("/console/providers", form("csrf", csrf, "name", "sneaky", "type", "openai", "api_keys", provKey))
				if res.status != tc.postStatus || !strings.Contains(res.body, "The admin API refused") {
					t.Errorf("create: %d, want %d: %s", res.status, tc.postStatus, res.body)
				}
				if strings.Contains(res.body, provKey) {
					t.Error("the refusal shows the key")
				}
				if st, _ := e.apiDo(e.root, "GET", "/admin/v1/providers/sneaky", nil); st != 404 {
					t.Errorf("refused provider exists: %d", st)
				}
				res = b.post("/console/providers/"+id+"/delete", form("csrf", csrf))
				if res.status != 403 {
					t.Errorf("delete: %d, want 403", res.status)
				}
			})
		}
	})

	t.Run("a model with ordered targets and exact prices", func(t *testing.T) {
		e.mustAPI("POST", "/admin/v1/providers", map[string]any{"name": "backup", "type": "openai", "base_url": "http://127.0.0.1:9/v1", "api_keys": []string{"sk-backup-0123456789abcdef"}})
		res := b.post("/console/models", form("csrf", csrf, "name", "chat-small", "targets", "openai-main: gpt-4o-mini\nbackup: llama3",
			"input_per_1m", "0.15", "output_per_1m", "0.6", "cached_input_per_1m", "0.075"))
		if res.status != http.StatusSeeOther {
			t.Fatalf("create model: %d %s", res.status, res.body)
		}
		p := b.get("/console/models")
		for _, want := range []string{"chat-small", `openai-main: <span class="mono">gpt-4o-mini</span> → backup: <span class="mono">llama3</span>`, "0.15", "0.6", "0.075", "Model chat-small added"} {
			if !strings.Contains(p.body, want) {
				t.Errorf("models page lacks %q", want)
			}
		}
		m := e.mustAPI("GET", "/admin/v1/models/chat-small", nil)
		if price := m["price"].(map[string]any); price["input_per_1m"] != "0.15" || price["output_per_1m"] != "0.6" {
			t.Errorf("stored price %v", price)
		}
		for _, bad := range []struct{ desc, targets string }{
			{"a target without provider", "gpt-4o-mini"},
			{"an unknown provider", "nobody: gpt-4o"},
		} {
			res := b.post("/console/models", form("csrf", csrf, "name", "broken", "targets", bad.targets))
			if res.status != 400 && res.status != 404 {
				t.Errorf("%s: %d %s", bad.desc, res.status, res.body)
			}
		}
		res = b.post("/console/models/"+m["id"].(string)+"/delete", form("csrf", csrf))
		if res.status != http.StatusSeeOther {
			t.Errorf("delete model: %d", res.status)
		}
		if st, _ := e.apiDo(e.root, "GET", "/admin/v1/models/chat-small", nil); st != 404 {
			t.Errorf("deleted model still there: %d", st)
		}
	})
}

// TestAIBudgets: budgets show their limit, what was spent this period and
// what remains, from the rollups' AI cost, and a chart of the spend over
// the period whose cumulative line ends at the spent figure; a
// tenant-admin sees and sets budgets of its own tenant only; a viewer
// only reads.
func TestAIBudgets(t *testing.T) {
	e := newEnv(t)
	shop := e.mustAPI("POST", "/admin/v1/tenants", map[string]any{"slug": "shop"})["id"].(string)
	other := e.mustAPI("POST", "/admin/v1/tenants", map[string]any{"slug": "other"})["id"].(string)
	app := e.mustAPI("POST", "/admin/v1/consumers", map[string]any{"tenant": shop, "name": "app"})["id"].(string)
	rival := e.mustAPI("POST", "/admin/v1/consumers", map[string]any{"tenant": other, "name": "rival"})["id"].(string)
	ta := e.mustAPI("POST", "/admin/v1/admins", map[string]any{"name": "shop-admin", "role": "tenant-admin", "tenant": "shop"})["token"].(string)
	viewer := e.mustAPI("POST", "/admin/v1/admins", map[string]any{"name": "auditor", "role": "viewer"})["token"].(string)

	// AI calls today (the fake clock is 10:00 UTC): app spends 1.25 + 2.5
	// at 08:xx and 0.000001 at 09:xx; rival 9 (another tenant); one
	// yesterday (outside the day's budget).
	now := e.clock.Now()
	var calls []domain.Call
	ai := func(consumer, tenant string, at time.Time, cost int64) {
		calls = append(calls, domain.Call{RequestID: fmt.Sprintf("01JAI%021d", len(calls)), Time: at, TenantID: tenant, ConsumerID: consumer,
			RouteID: "rte_ai", Method: "POST", Path: "/v1/chat/completions", Status: 200, CredentialType: domain.AuthAPIKey,
			AI: &domain.CallAI{Model: "gpt-4o-mini", PromptTokens: 100, CompletionTokens: 50, CostMicros: cost}})
	}
	ai(app, shop, now.Add(-100*time.Minute), 1_250_000)
	ai(app, shop, now.Add(-90*time.Minute), 2_500_000)
	ai(app, shop, now.Add(-30*time.Minute), 1)
	ai(app, shop, now.Add(-20*time.Hour), 7_000_000)
	ai(rival, other, now.Add(-10*time.Minute), 9_000_000)
	e.insertCalls(calls, true)

	root := newBrowser(t, e.srv.URL)
	csrf := root.login(e.root)
	res := root.post("/console/budgets", form("csrf", csrf, "scope", "consumer", "scope_id", "shop/app", "amount", "10.00", "period", "day", "rpm", "60"))
	if res.status != http.StatusSeeOther || !strings.HasPrefix(res.header.Get("Location"), "/console/budgets/") {
		t.Fatalf("create budget: %d %s", res.status, res.body)
	}
	budgetPath := res.header.Get("Location")
	res = root.post("/console/budgets", form("csrf", csrf, "scope", "tenant", "scope_id", "other", "amount", "5", "period", "month"))
	if res.status != http.StatusSeeOther {
		t.Fatalf("create tenant budget: %d %s", res.status, res.body)
	}

	list := root.get("/console/budgets")
	for _, want := range []string{`<span class="spent">3.750001</span>`, "(38 %)", "6.249999", "10 / day", "app", `<span class="spent">9</span>`, "5 / month", "(180 %)"} {
		if !strings.Contains(list.body, want) {
			t.Errorf("budgets page lacks %q", want)
		}
	}
	detail := root.get(budgetPath)
	if detail.status != 200 {
		t.Fatalf("budget page: %d %s", detail.status, detail.body)
	}
	for _, want := range []string{`id="budget-spent">3.750001<`, `id="budget-remaining">6.249999<`, `id="chart-spend"`} {
		if !strings.Contains(detail.body, want) {
			t.Errorf("budget page lacks %q", want)
		}
	}
	var charts []struct {
		X      []int64 `json:"x"`
		Series []struct {
			Label  string    `json:"label"`
			Values []float64 `json:"values"`
		} `json:"series"`
	}
	m := chartsRE.FindStringSubmatch(detail.body)
	if m == nil {
		t.Fatal("no chart data")
	}
	if err := json.Unmarshal([]byte(html.UnescapeString(m[1])), &charts); err != nil || len(charts) != 1 {
		t.Fatalf("chart: %v %s", err, m[1])
	}
	c := charts[0]
	if len(c.X) != 10 || len(c.Series) != 3 { // 00:00 … 09:00 by hour; per hour, cumulative, limit
		t.Fatalf("chart has %d points and %d lines: %+v", len(c.X), len(c.Series), c)
	}
	per, cum, limit := c.Series[0].Values, c.Series[1].Values, c.Series[2].Values
	if per[8] != 3.75 || per[9] != 0.000001 || cum[9] != 3.750001 || limit[0] != 10 {
		t.Errorf("spend per hour %v, cumulative %v, limit %v", per, cum, limit)
	}

	t.Run("a tenant-admin sees and sets its own tenant's budgets only", func(t *testing.T) {
		b := newBrowser(t, e.srv.URL)
		csrf := b.login(ta)
		p := b.get("/console/budgets")
		if !strings.Contains(p.body, "3.750001") || strings.Contains(p.body, "5 / month") {
			t.Errorf("tenant-admin's budgets page: %s", p.body)
		}
		res := b.post("/console/budgets", form("csrf", csrf, "scope", "consumer", "scope_id", rival, "amount", "1", "period", "day"))
		if res.status != 403 && res.status != 404 {
			t.Errorf("budget for another tenant's consumer: %d %s", res.status, res.body)
		}
		if res := b.post("/console/budgets", form("csrf", csrf, "scope", "tenant", "scope_id", "shop", "amount", "1", "period", "day")); res.status != 403 {
			t.Errorf("a tenant-admin set its own tenant's cap: %d %s", res.status, res.body)
		}
	})
	t.Run("a viewer reads without forms and is refused a change", func(t *testing.T) {
		b := newBrowser(t, e.srv.URL)
		csrf := b.login(viewer)
		p := b.get("/console/budgets")
		if p.status != 200 || strings.Contains(p.body, "Set a budget") || !strings.Contains(p.body, "3.750001") {
			t.Errorf("viewer's budgets page: %d", p.status)
		}
		if res := b.post("/console/budgets", form("csrf", csrf, "scope", "consumer", "scope_id", app, "amount", "1", "period", "day")); res.status != 403 {
			t.Errorf("viewer created a budget: %d", res.status)
		}
		if res := b.post(budgetPath+"/delete", form("csrf", csrf)); res.status != 403 {
			t.Errorf("viewer deleted a budget: %d", res.status)
		}
	})
	if res := root.post(budgetPath+"/delete", form("csrf", csrf)); res.status != http.StatusSeeOther {
		t.Errorf("delete: %d %s", res.status, res.body)
	}
}
