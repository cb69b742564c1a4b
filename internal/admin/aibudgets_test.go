package admin

import (
	"context"
	"strings"
	"testing"

	"gatehouse/internal/domain"
)

// aiWorld is two tenants (acme, globex) with their fixtures, a provider
// and two models (mini, chat).
func aiWorld(t *testing.T) (*testEnv, fixture, fixture) {
	t.Helper()
	e := newEnv(t)
	a, b := e.fixture("acme"), e.fixture("globex")
	e.must(201, "POST", "/admin/v1/providers", map[string]any{"name": "openai", "type": "openai", "api_keys": []string{provKeyA}})
	for _, m := range []string{"mini", "chat"} {
		e.must(201, "POST", "/admin/v1/models", map[string]any{"name": m, "targets": []map[string]string{{"provider": "openai", "model": "gpt-4o-mini"}}})
	}
	return e, a, b
}

func TestModelAccess(t *testing.T) {
	e, a, _ := aiWorld(t)
	path := "/admin/v1/consumers/acme%2Fapp/models"
	t.Run("a consumer without a list may use every model", func(t *testing.T) {
		g := e.must(200, "GET", path, nil).JSON(t)
		if g["restricted"] != false || len(g["models"].([]any)) != 0 || g["consumer"] != a.consumerID {
			t.Fatal(g)
		}
	})
	cases := []struct {
		desc   string
		models any
		status int
		detail string
	}{
		{"an empty list is refused: delete the list to allow every model", []string{}, 400, "DELETE"},
		{"an exact name must be a model of the catalogue", []string{"mini", "gpt-5"}, 400, `models[1] "gpt-5" is not a model of the catalogue`},
		{"a pattern needs a valid prefix", []string{"gpt/4*"}, 400, "a pattern is a model name prefix"},
		{"a name with a slash", []string{"a/b"}, 400, "not a model name"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			d := problemOf(t, e.do(e.root, "PUT", path, map[string]any{"models": tc.models}), tc.status, CodeInvalid)
			if !strings.Contains(d, tc.detail) {
				t.Fatalf("detail %q lacks %q", d, tc.detail)
			}
		})
	}
	t.Run("set names and patterns; duplicates dropped, order kept", func(t *testing.T) {
		g := e.must(200, "PUT", path, map[string]any{"models": []string{"mini", "gpt-4o*", "mini"}}).JSON(t)
		if g["restricted"] != true || fmtAny(g["models"]) != "[mini gpt-4o*]" {
			t.Fatal(g)
		}
		if g := e.must(200, "GET", "/admin/v1/consumers/"+a.consumerID+"/models", nil).JSON(t); fmtAny(g["models"]) != "[mini gpt-4o*]" {
			t.Fatal(g)
		}
		d, err := e.store.Load(context.Background())
		if err != nil || len(d.AIAccess) != 1 || d.AIAccess[0].ConsumerID != a.consumerID || !domain.ModelAllowed(d.AIAccess[0].Models, "gpt-4o-2024") ||
			domain.ModelAllowed(d.AIAccess[0].Models, "chat") {
			t.Fatalf("Load: %+v %v", d.AIAccess, err)
		}
	})
	t.Run("the same list again changes nothing and audits nothing", func(t *testing.T) {
		audits, changes := len(e.auditAll()), e.changeCount()
		e.must(200, "PUT", path, map[string]any{"models": []string{"mini", "gpt-4o*"}})
		if len(e.auditAll()) != audits || e.changeCount() != changes {
			t.Fatal("a no-op PUT was audited or applied")
		}
	})
	t.Run("list, filtered", func(t *testing.T) {
		if items := e.must(200, "GET", "/admin/v1/model-access?tenant=acme", nil).items(t); len(items) != 1 {
			t.Fatal(items)
		}
		if items := e.must(200, "GET", "/admin/v1/model-access?tenant=globex", nil).items(t); len(items) != 0 {
			t.Fatal(items)
		}
	})
	t.Run("delete: every model again; a second delete is not found", func(t *testing.T) {
		e.must(204, "DELETE", path, nil)
		if g := e.must(200, "GET", path, nil).JSON(t); g["restricted"] != false {
			t.Fatal(g)
		}
		problemOf(t, e.do(e.root, "DELETE", path, nil), 404, CodeNotFound)
	})
	t.Run("an unknown consumer", func(t *testing.T) {
		problemOf(t, e.do(e.root, "PUT", "/admin/v1/consumers/ghost/models", map[string]any{"models": []string{"mini"}}), 404, CodeNotFound)
	})
}

func TestBudgets(t *testing.T) {
	e, a, _ := aiWorld(t)
	cases := []struct {
		desc   string
		body   map[string]any
		status int
		want   map[string]any
		detail string
	}{
		{"a consumer's money per day, by tenant-slug/name", map[string]any{"scope": "consumer", "scope_id": "acme/app", "amount": "1.00", "period": "day"},
			201, map[string]any{"scope": "consumer", "scope_id": a.consumerID, "tenant": a.tenantID, "amount": "1", "period": "day"}, ""},
		{"the same consumer per month too, with RPM and TPM", map[string]any{"scope": "consumer", "scope_id": a.consumerID, "amount": 25.5,
			"period": "month", "rpm": 60, "tpm": 100000}, 201, map[string]any{"amount": "25.5", "rpm": float64(60), "tpm": float64(100000)}, ""},
		{"a credential (an API key)", map[string]any{"scope": "credential", "scope_id": a.keyID, "rpm": 10}, 201,
			map[string]any{"scope_id": a.keyID, "tenant": a.tenantID}, ""},
		{"a tenant, by slug", map[string]any{"scope": "tenant", "scope_id": "acme", "amount": "100", "period": "month"}, 201,
			map[string]any{"scope_id": a.tenantID, "tenant": a.tenantID}, ""},
		{"a second day budget for the same consumer", map[string]any{"scope": "consumer", "scope_id": a.consumerID, "amount": "2", "period": "day"},
			409, nil, `already has a budget with period "day"`},
		{"no limit at all", map[string]any{"scope": "consumer", "scope_id": a.consumerID}, 400, nil, "a budget needs a limit"},
		{"amount without period", map[string]any{"scope": "consumer", "scope_id": a.consumerID, "amount": "1"}, 400, nil, "period is required with amount"},
		{"period without amount", map[string]any{"scope": "consumer", "scope_id": a.consumerID, "period": "day", "rpm": 1}, 400, nil, "is for amount"},
		{"an unknown period", map[string]any{"scope": "consumer", "scope_id": a.consumerID, "amount": "1", "period": "week"}, 400, nil, `period "week"`},
		{"an amount with seven decimals", map[string]any{"scope": "consumer", "scope_id": a.consumerID, "amount": "0.0000001", "period": "day"},
			400, nil, "amount: amount \"0.0000001\" has more than 6 decimal places"},
		{"a negative rpm", map[string]any{"scope": "consumer", "scope_id": a.consumerID, "rpm": -1}, 400, nil, "rpm -1"},
		{"an unknown scope", map[string]any{"scope": "route", "scope_id": a.routeID, "rpm": 1}, 400, nil, `scope "route"`},
		{"an unknown credential", map[string]any{"scope": "credential", "scope_id": "nope", "rpm": 1}, 404, nil, `credential "nope" not found`},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			r := e.do(e.root, "POST", "/admin/v1/budgets", tc.body)
			if tc.status != 201 {
				d := problemOf(t, r, tc.status, map[int]string{400: CodeInvalid, 404: CodeNotFound, 409: CodeConflict}[tc.status])
				if !strings.Contains(d, tc.detail) {
					t.Fatalf("detail %q lacks %q", d, tc.detail)
				}
				return
			}
			if r.Status != 201 {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			got := r.JSON(t)
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
		})
	}
	items := e.must(200, "GET", "/admin/v1/budgets?consumer=acme%2Fapp", nil).items(t)
	if len(items) != 2 {
		t.Fatalf("budgets of acme/app: %v", items)
	}
	var month string
	for _, it := range items {
		if it["period"] == "month" {
			month = it["id"].(string)
		}
	}
	t.Run("PATCH: amount 0 removes the money limit and its period", func(t *testing.T) {
		g := e.must(200, "PATCH", "/admin/v1/budgets/"+month, map[string]any{"amount": "0"}).JSON(t)
		if _, ok := g["amount"]; ok || g["period"] != nil || g["rpm"] != float64(60) {
			t.Fatal(g)
		}
		g = e.must(200, "PATCH", "/admin/v1/budgets/"+month, map[string]any{"amount": "3.25", "period": "month"}).JSON(t)
		if g["amount"] != "3.25" {
			t.Fatal(g)
		}
		d := problemOf(t, e.do(e.root, "PATCH", "/admin/v1/budgets/"+month, map[string]any{"scope": "tenant"}), 400, CodeInvalid)
		if !strings.Contains(d, "cannot change") {
			t.Fatal(d)
		}
	})
	t.Run("the store keeps micro-units", func(t *testing.T) {
		d, err := e.store.Load(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range d.Budgets {
			if b.ID == month && b.Amount != 3_250_000 {
				t.Fatalf("stored amount %d", int64(b.Amount))
			}
		}
		if len(d.Budgets) != 4 {
			t.Fatalf("Load: %d budgets", len(d.Budgets))
		}
	})
	t.Run("delete", func(t *testing.T) {
		e.must(204, "DELETE", "/admin/v1/budgets/"+month, nil)
		problemOf(t, e.do(e.root, "GET", "/admin/v1/budgets/"+month, nil), 404, CodeNotFound)
	})
}

// TestAIRoles checks who may read and write the AI objects: providers are
// the gateway admins', models are read by all and written by gateway
// admins, tenant-admins manage their own consumers' budgets, allow-lists
// and their tenant's prompts, but not their tenant's own budget nor
// anything of another tenant; viewers write nothing. Every refusal is
// audited.
func TestAIRoles(t *testing.T) {
	e, a, b := aiWorld(t)
	taID, ta := e.newAdmin("acme-ops", domain.RoleTenantAdmin, "acme")
	vID, viewer := e.newAdmin("auditor", domain.RoleViewer, "")
	_, boundViewer := e.newAdmin("acme-auditor", domain.RoleViewer, "acme")
	tenantBudget := e.must(201, "POST", "/admin/v1/budgets", map[string]any{"scope": "tenant", "scope_id": "acme", "amount": "100", "period": "month"}).str(t, "id")
	bBudget := e.must(201, "POST", "/admin/v1/budgets", map[string]any{"scope": "consumer", "scope_id": b.consumerID, "rpm": 5}).str(t, "id")
	bPrompt := e.must(201, "POST", "/admin/v1/prompts", map[string]any{"tenant": "globex", "name": "p", "template": "{{x}}", "variables": []string{"x"},
		"model": "mini"}).str(t, "id")
	cases := []struct {
		desc, token, actorID, method, path string
		body                               any
		status                             int
	}{
		{"tenant-admin: providers are not a tenant's to read", ta, taID, "GET", "/admin/v1/providers", nil, 403},
		{"tenant-admin: nor one provider", ta, taID, "GET", "/admin/v1/providers/openai", nil, 403},
		{"tenant-admin: nor to create", ta, taID, "POST", "/admin/v1/providers", map[string]any{"name": "x", "type": "openai", "api_keys": []string{"k"}}, 403},
		{"tenant-admin reads the model catalogue", ta, taID, "GET", "/admin/v1/models", nil, 200},
		{"tenant-admin reads one model", ta, taID, "GET", "/admin/v1/models/mini", nil, 200},
		{"tenant-admin cannot add a model", ta, taID, "POST", "/admin/v1/models", map[string]any{"name": "x",
			"targets": []map[string]string{{"provider": "openai", "model": "gpt-4o"}}}, 403},
		{"tenant-admin cannot delete a model", ta, taID, "DELETE", "/admin/v1/models/mini", nil, 403},
		{"tenant-admin sets its consumer's budget", ta, taID, "POST", "/admin/v1/budgets", map[string]any{"scope": "consumer", "scope_id": a.consumerID,
			"amount": "5", "period": "day"}, 201},
		{"tenant-admin sets its key's budget", ta, taID, "POST", "/admin/v1/budgets", map[string]any{"scope": "credential", "scope_id": a.keyID, "tpm": 1000}, 201},
		{"tenant-admin cannot set another tenant's consumer's budget", ta, taID, "POST", "/admin/v1/budgets", map[string]any{"scope": "consumer",
			"scope_id": b.consumerID, "rpm": 1}, 403},
		{"tenant-admin cannot set another tenant's key's budget", ta, taID, "POST", "/admin/v1/budgets", map[string]any{"scope": "credential",
			"scope_id": b.keyID, "rpm": 1}, 403},
		{"tenant-admin cannot set its tenant's own budget", ta, taID, "POST", "/admin/v1/budgets", map[string]any{"scope": "tenant", "scope_id": "acme",
			"amount": "1000", "period": "day"}, 403},
		{"tenant-admin reads its tenant's own budget", ta, taID, "GET", "/admin/v1/budgets/" + tenantBudget, nil, 200},
		{"tenant-admin cannot lift its tenant's own budget", ta, taID, "PATCH", "/admin/v1/budgets/" + tenantBudget, map[string]any{"amount": "1000"}, 403},
		{"tenant-admin cannot delete its tenant's own budget", ta, taID, "DELETE", "/admin/v1/budgets/" + tenantBudget, nil, 403},
		{"tenant-admin cannot read another tenant's budget", ta, taID, "GET", "/admin/v1/budgets/" + bBudget, nil, 403},
		{"tenant-admin restricts its consumer's models", ta, taID, "PUT", "/admin/v1/consumers/" + a.consumerID + "/models", map[string]any{"models": []string{"mini"}}, 200},
		{"tenant-admin cannot touch another tenant's consumer's models", ta, taID, "PUT", "/admin/v1/consumers/" + b.consumerID + "/models",
			map[string]any{"models": []string{"mini"}}, 403},
		{"tenant-admin creates a prompt in its tenant (by default)", ta, taID, "POST", "/admin/v1/prompts", map[string]any{"name": "q", "template": "{{y}}",
			"variables": []string{"y"}, "model": "mini"}, 201},
		{"tenant-admin cannot create a prompt in another tenant", ta, taID, "POST", "/admin/v1/prompts", map[string]any{"tenant": "globex", "name": "q",
			"template": "{{y}}", "variables": []string{"y"}, "model": "mini"}, 403},
		{"tenant-admin cannot read another tenant's prompt", ta, taID, "GET", "/admin/v1/prompts/" + bPrompt, nil, 403},
		{"tenant-admin cannot delete another tenant's prompt", ta, taID, "DELETE", "/admin/v1/prompts/" + bPrompt, nil, 403},
		{"an unbound viewer reads providers", viewer, vID, "GET", "/admin/v1/providers", nil, 200},
		{"a viewer writes no provider", viewer, vID, "PATCH", "/admin/v1/providers/openai", map[string]any{"api_keys": []string{"k"}}, 403},
		{"a viewer writes no budget", viewer, vID, "POST", "/admin/v1/budgets", map[string]any{"scope": "consumer", "scope_id": a.consumerID, "rpm": 1}, 403},
		{"a viewer writes no allow-list", viewer, vID, "DELETE", "/admin/v1/consumers/" + a.consumerID + "/models", nil, 403},
		{"a viewer writes no prompt", viewer, vID, "POST", "/admin/v1/prompts", map[string]any{"tenant": "acme", "name": "v", "template": "{{y}}",
			"variables": []string{"y"}, "model": "mini"}, 403},
		{"a tenant-bound viewer reads no provider", boundViewer, "", "GET", "/admin/v1/providers", nil, 403},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			since := lastAuditID(e)
			r := e.do(tc.token, tc.method, tc.path, tc.body)
			if tc.status == 403 {
				problemOf(t, r, 403, CodeForbidden)
				if tc.actorID != "" {
					refusedOnce(t, e, since, tc.actorID, tc.path)
				}
				return
			}
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Body)
			}
		})
	}
	t.Run("lists are narrowed to the tenant", func(t *testing.T) {
		for _, p := range []string{"/admin/v1/budgets", "/admin/v1/prompts", "/admin/v1/model-access"} {
			for _, it := range e.do(ta, "GET", p, nil).items(t) {
				if tn, ok := it["tenant"]; ok && tn != a.tenantID {
					t.Errorf("%s shows %v to acme's admin", p, it)
				}
				if c, ok := it["consumer"]; ok && c != a.consumerID {
					t.Errorf("%s shows %v to acme's admin", p, it)
				}
			}
		}
		if n := len(e.do(ta, "GET", "/admin/v1/budgets", nil).items(t)); n != 3 {
			t.Errorf("acme's admin sees %d budgets, want its tenant's 3", n)
		}
		if n := len(e.do(ta, "GET", "/admin/v1/prompts", nil).items(t)); n != 1 {
			t.Errorf("acme's admin sees %d prompts, want 1", n)
		}
	})
}
