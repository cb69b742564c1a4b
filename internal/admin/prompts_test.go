package admin

import (
	"context"
	"strings"
	"testing"

	"gatehouse/internal/domain"
)

func TestPrompts(t *testing.T) {
	e, a, _ := aiWorld(t)
	cases := []struct {
		desc   string
		body   map[string]any
		status int
		detail string
	}{
		{"typed variables, spaces inside braces, an escaped literal", map[string]any{"tenant": "acme", "name": "summarise",
			"template":  "Summarise in {{ words }} words, formal={{formal}}:\n{{text}}\n\\{{not a variable}}",
			"variables": []any{"text", map[string]string{"name": "words", "type": "integer"}, map[string]string{"name": "formal", "type": "boolean"}},
			"model":     "mini"}, 201, ""},
		{"the same name in another tenant", map[string]any{"tenant": "globex", "name": "summarise", "template": "{{t}}", "variables": []string{"t"},
			"model": "mini"}, 201, ""},
		{"the model by id is stored as its alias", map[string]any{"tenant": "acme", "name": "by-id", "template": "{{t}}", "variables": []string{"t"},
			"model": "MODEL_ID"}, 201, ""},
		{"a taken name in the tenant", map[string]any{"tenant": "acme", "name": "summarise", "template": "{{t}}", "variables": []string{"t"}, "model": "mini"},
			409, `"summarise" is already taken in tenant acme`},
		{"a placeholder nobody declared", map[string]any{"tenant": "acme", "name": "p", "template": "{{a}} {{b}}", "variables": []string{"a"}, "model": "mini"},
			400, "the template uses {{b}}, which variables does not declare"},
		{"a declared variable the template never uses", map[string]any{"tenant": "acme", "name": "p", "template": "{{a}}", "variables": []string{"a", "c"},
			"model": "mini"}, 400, `variable "c" is declared but the template never uses it`},
		{"an unclosed placeholder", map[string]any{"tenant": "acme", "name": "p", "template": "Hi {{name", "variables": []string{"name"}, "model": "mini"},
			400, "never closed"},
		{"a placeholder that is not a name", map[string]any{"tenant": "acme", "name": "p", "template": "{{ .Name }}", "model": "mini"},
			400, "is not a variable name"},
		{"an unknown variable type", map[string]any{"tenant": "acme", "name": "p", "template": "{{a}}",
			"variables": []map[string]string{{"name": "a", "type": "date"}}, "model": "mini"}, 400, `variables[0].type "date"`},
		{"a variable declared twice", map[string]any{"tenant": "acme", "name": "p", "template": "{{a}}", "variables": []string{"a", "a"}, "model": "mini"},
			400, "declared twice"},
		{"a model not in the catalogue", map[string]any{"tenant": "acme", "name": "p", "template": "{{a}}", "variables": []string{"a"}, "model": "gpt-9"},
			400, `model "gpt-9" is not a model of the catalogue`},
		{"an empty template", map[string]any{"tenant": "acme", "name": "p", "template": "  ", "model": "mini"}, 400, "template is required"},
		{"a gateway admin names the tenant", map[string]any{"name": "p", "template": "{{a}}", "variables": []string{"a"}, "model": "mini"},
			400, "tenant is required"},
	}
	mini := e.must(200, "GET", "/admin/v1/models/mini", nil).str(t, "id")
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			if tc.body["model"] == "MODEL_ID" {
				tc.body["model"] = mini
			}
			r := e.do(e.root, "POST", "/admin/v1/prompts", tc.body)
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
			if got := r.JSON(t); got["model"] != "mini" || !strings.HasPrefix(got["id"].(string), "prm_") {
				t.Fatalf("%v", got)
			}
		})
	}
	t.Run("stored variables are typed, string by default; it renders", func(t *testing.T) {
		g := e.must(200, "GET", "/admin/v1/prompts/acme%2Fsummarise", nil).JSON(t)
		if fmtAny(g["variables"]) != "[map[name:text type:string] map[name:words type:integer] map[name:formal type:boolean]]" {
			t.Fatalf("variables %v", g["variables"])
		}
		d, err := e.store.Load(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var p domain.Prompt
		for _, x := range d.Prompts {
			if x.TenantID == a.tenantID && x.Name == "summarise" {
				p = x
			}
		}
		out, err := p.Render(map[string]any{"text": "A long story.", "words": float64(5), "formal": true})
		if err != nil || out != "Summarise in 5 words, formal=true:\nA long story.\n{{not a variable}}" {
			t.Fatalf("Render = %q, %v", out, err)
		}
	})
	t.Run("a name in two tenants is ambiguous for a gateway admin", func(t *testing.T) {
		r := e.do(e.root, "GET", "/admin/v1/prompts/summarise", nil)
		if d := problemOf(t, r, 409, CodeAmbiguous); !strings.Contains(d, "acme/summarise") || !strings.Contains(d, "globex/summarise") {
			t.Fatal(d)
		}
	})
	t.Run("PATCH template and variables together; the tenant cannot change", func(t *testing.T) {
		g := e.must(200, "PATCH", "/admin/v1/prompts/acme%2Fby-id", map[string]any{"template": "{{t}} and {{u}}", "variables": []string{"t", "u"}}).JSON(t)
		if g["template"] != "{{t}} and {{u}}" {
			t.Fatal(g)
		}
		problemOf(t, e.do(e.root, "PATCH", "/admin/v1/prompts/acme%2Fby-id", map[string]any{"template": "{{t}}"}), 400, CodeInvalid)
		problemOf(t, e.do(e.root, "PATCH", "/admin/v1/prompts/acme%2Fby-id", map[string]any{"tenant": "globex"}), 400, CodeInvalid)
	})
	t.Run("a model a prompt uses cannot be deleted", func(t *testing.T) {
		d := problemOf(t, e.do(e.root, "DELETE", "/admin/v1/models/mini", nil), 409, CodeConflict)
		if !strings.Contains(d, "prompt") {
			t.Fatal(d)
		}
	})
}

func TestPromptRoutes(t *testing.T) {
	e, a, b := aiWorld(t)
	pa := e.must(201, "POST", "/admin/v1/prompts", map[string]any{"tenant": "acme", "name": "greet", "template": "Greet {{who}}",
		"variables": []string{"who"}, "model": "mini"}).str(t, "id")
	pb := e.must(201, "POST", "/admin/v1/prompts", map[string]any{"tenant": "globex", "name": "greet", "template": "Hello {{who}}",
		"variables": []string{"who"}, "model": "mini"}).str(t, "id")
	var routeID string
	cases := []struct {
		desc   string
		body   map[string]any
		status int
		detail string
		check  func(t *testing.T, r resp)
	}{
		{"a prompt route by the prompt's name: the service's tenant's prompt", map[string]any{"service": a.serviceID, "paths": []string{"/greet"},
			"type": "prompt", "prompt": "greet"}, 201, "", func(t *testing.T, r resp) {
			if got := r.JSON(t); got["prompt"] != pa || got["type"] != "prompt" {
				t.Fatalf("%v", got)
			}
			routeID = r.str(t, "id")
		}},
		{"by id", map[string]any{"service": a.serviceID, "paths": []string{"/greet2"}, "type": "prompt", "prompt": pa}, 201, "", nil},
		{"an ai route", map[string]any{"service": a.serviceID, "paths": []string{"/ai"}, "type": "ai", "error_format": "openai"}, 201, "", nil},
		{"type prompt needs a prompt", map[string]any{"service": a.serviceID, "paths": []string{"/x"}, "type": "prompt"}, 400, "prompt is required", nil},
		{"a prompt on another type", map[string]any{"service": a.serviceID, "paths": []string{"/x"}, "type": "ai", "prompt": pa}, 400,
			`prompt is only for routes of type "prompt"; this route's type is "ai"`, nil},
		{"a prompt on the default type", map[string]any{"service": a.serviceID, "paths": []string{"/x"}, "prompt": pa}, 400, `this route's type is "proxy"`, nil},
		{"an unknown type", map[string]any{"service": a.serviceID, "paths": []string{"/x"}, "type": "grpc"}, 400, `type "grpc" is not one of`, nil},
		{"an unknown prompt", map[string]any{"service": a.serviceID, "paths": []string{"/x"}, "type": "prompt", "prompt": "prm_nope"}, 400, "not found", nil},
		{"another tenant's prompt", map[string]any{"service": a.serviceID, "paths": []string{"/x"}, "type": "prompt", "prompt": pb}, 400,
			"belongs to tenant globex", nil},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			r := e.do(e.root, "POST", "/admin/v1/routes", tc.body)
			if tc.status != 201 {
				d := problemOf(t, r, tc.status, CodeInvalid)
				if !strings.Contains(d, tc.detail) {
					t.Fatalf("detail %q lacks %q", d, tc.detail)
				}
				return
			}
			if r.Status != 201 {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
	t.Run("globex's route by name gets globex's prompt", func(t *testing.T) {
		r := e.must(201, "POST", "/admin/v1/routes", map[string]any{"service": b.serviceID, "paths": []string{"/g"}, "type": "prompt", "prompt": "greet"})
		if r.str(t, "prompt") != pb {
			t.Fatalf("%s", r.Body)
		}
	})
	t.Run("a prompt a route serves cannot be deleted; the message names the route", func(t *testing.T) {
		d := problemOf(t, e.do(e.root, "DELETE", "/admin/v1/prompts/"+pa, nil), 409, CodeConflict)
		if !strings.Contains(d, routeID) {
			t.Fatal(d)
		}
	})
	t.Run("PATCH to another type leaves the prompt; back to prompt needs one", func(t *testing.T) {
		g := e.must(200, "PATCH", "/admin/v1/routes/"+routeID, map[string]any{"type": "proxy"}).JSON(t)
		if _, ok := g["prompt"]; ok || g["type"] != "proxy" {
			t.Fatal(g)
		}
		problemOf(t, e.do(e.root, "PATCH", "/admin/v1/routes/"+routeID, map[string]any{"type": "prompt"}), 400, CodeInvalid)
		g = e.must(200, "PATCH", "/admin/v1/routes/"+routeID, map[string]any{"type": "prompt", "prompt": "greet"}).JSON(t)
		if g["prompt"] != pa {
			t.Fatal(g)
		}
	})
	t.Run("the route's prompt reaches the snapshot", func(t *testing.T) {
		d, err := e.store.Load(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range d.Routes {
			if r.ID == routeID && (r.PromptID != pa || r.Type != domain.RoutePrompt) {
				t.Fatalf("%+v", r)
			}
		}
	})
}

// TestAIChangesAuditedOnceAndApplied: every AI change writes exactly one
// audit entry under the right resource and tenant, and calls OnChange once.
func TestAIChangesAuditedOnceAndApplied(t *testing.T) {
	e := newEnv(t)
	f := e.fixture("acme")
	var prv, mdl, bdg, prm string
	steps := []struct {
		desc, method string
		path         func() string
		body         any
		action       string
		tenant       string
		after        func(r resp)
	}{
		{"create provider", "POST", fixed("/admin/v1/providers"), map[string]any{"name": "openai", "type": "openai", "api_keys": []string{provKeyA}},
			"provider.create", "", func(r resp) { prv = r.str(t, "id") }},
		{"update provider", "PATCH", func() string { return "/admin/v1/providers/" + prv }, map[string]any{"api_keys": []string{provKeyB}}, "provider.update", "", nil},
		{"create model", "POST", fixed("/admin/v1/models"), map[string]any{"name": "mini", "targets": []map[string]string{{"provider": "openai", "model": "gpt-4o-mini"}}},
			"model.create", "", func(r resp) { mdl = r.str(t, "id") }},
		{"update model", "PATCH", func() string { return "/admin/v1/models/" + mdl }, map[string]any{"max_output_tokens": 100}, "model.update", "", nil},
		{"set allowed models", "PUT", fixed("/admin/v1/consumers/acme%2Fapp/models"), map[string]any{"models": []string{"mini"}}, "model_access.set", f.tenantID, nil},
		{"clear allowed models", "DELETE", fixed("/admin/v1/consumers/acme%2Fapp/models"), nil, "model_access.clear", f.tenantID, nil},
		{"create budget", "POST", fixed("/admin/v1/budgets"), map[string]any{"scope": "consumer", "scope_id": "acme/app", "rpm": 5}, "budget.create", f.tenantID,
			func(r resp) { bdg = r.str(t, "id") }},
		{"update budget", "PATCH", func() string { return "/admin/v1/budgets/" + bdg }, map[string]any{"rpm": 6}, "budget.update", f.tenantID, nil},
		{"delete budget", "DELETE", func() string { return "/admin/v1/budgets/" + bdg }, nil, "budget.delete", f.tenantID, nil},
		{"create prompt", "POST", fixed("/admin/v1/prompts"), map[string]any{"tenant": "acme", "name": "p", "template": "{{a}}", "variables": []string{"a"},
			"model": "mini"}, "prompt.create", f.tenantID, func(r resp) { prm = r.str(t, "id") }},
		{"update prompt", "PATCH", func() string { return "/admin/v1/prompts/" + prm }, map[string]any{"template": "{{a}}!"}, "prompt.update", f.tenantID, nil},
		{"delete prompt", "DELETE", func() string { return "/admin/v1/prompts/" + prm }, nil, "prompt.delete", f.tenantID, nil},
		{"delete model", "DELETE", func() string { return "/admin/v1/models/" + mdl }, nil, "model.delete", "", nil},
		{"delete provider", "DELETE", func() string { return "/admin/v1/providers/" + prv }, nil, "provider.delete", "", nil},
	}
	for _, s := range steps {
		t.Run(s.desc, func(t *testing.T) {
			audits, changes := len(e.auditAll()), e.changeCount()
			r := e.do(e.root, s.method, s.path(), s.body)
			if r.Status/100 != 2 {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			if got := e.changeCount(); got != changes+1 {
				t.Fatalf("OnChange called %d times, want once", got-changes)
			}
			all := e.auditAll()
			if len(all) != audits+1 {
				t.Fatalf("%d audit entries written, want 1", len(all)-audits)
			}
			last := all[len(all)-1]
			tenant, _ := last["tenant"].(string)
			if last["action"] != s.action || tenant != s.tenant {
				t.Fatalf("audit entry %v, want action %s tenant %q", last, s.action, s.tenant)
			}
			if s.after != nil {
				s.after(r)
			}
		})
	}
	t.Run("provider entries show the key count, never a key", func(t *testing.T) {
		text := fmtAny(e.auditAll())
		if strings.Contains(text, provKeyA) || strings.Contains(text, provKeyB) || !strings.Contains(text, "key_count") {
			t.Fatal(text)
		}
	})
}
