package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

// RunAI runs the store.AIStore and store.AITx part of the suite (issue 8):
// providers, models (with ordered targets), per-consumer allowed models,
// budgets and prompts round-trip every field through a Tx; unique names
// conflict naming the value; references are checked (a model's providers,
// an allow-list's consumer, a budget's and a prompt's tenant) and
// protected (a targeted provider, a model named by a prompt, a prompt a
// route binds cannot be deleted); lists page and filter; Load carries
// everything; a route's prompt id round-trips. open is as for Run; the
// store must implement store.AIStore and its Tx store.AITx.
func RunAI(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store, a store.AIStore)
	}{
		{"Providers", testProviders},
		{"Models", testModels},
		{"AIAccess", testAIAccess},
		{"Budgets", testBudgets},
		{"Prompts", testPrompts},
		{"AIReferences", testAIReferences},
		{"AIReadOnly", testAIReadOnly},
		{"AILists", testAILists},
		{"AILoad", testAILoad},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			a, ok := s.(store.AIStore)
			if !ok {
				t.Fatalf("%T does not implement store.AIStore", s)
			}
			tc.fn(t, s, a)
		})
	}
}

func aiTx(t *testing.T, tx store.Tx) store.AITx {
	t.Helper()
	a, ok := tx.(store.AITx)
	if !ok {
		t.Fatalf("%T does not implement store.AITx", tx)
	}
	return a
}

// aiUpdate runs fn on the AI part of an Update and fails on error.
func aiUpdate(t *testing.T, s store.Store, fn func(ctx context.Context, tx store.AITx) error) {
	t.Helper()
	update(t, s, func(ctx context.Context, tx store.Tx) error { return fn(ctx, aiTx(t, tx)) })
}

// aiUpdateErr runs fn in an Update and returns its error.
func aiUpdateErr(t *testing.T, s store.Store, fn func(ctx context.Context, tx store.AITx) error) error {
	t.Helper()
	return s.Update(t.Context(), func(tx store.Tx) error { return fn(t.Context(), aiTx(t, tx)) })
}

func aiView(t *testing.T, s store.Store, fn func(ctx context.Context, tx store.AITx) error) {
	t.Helper()
	view(t, s, func(ctx context.Context, tx store.Tx) error { return fn(ctx, aiTx(t, tx)) })
}

func provider(id, name string) domain.Provider {
	return domain.Provider{ID: id, Name: name, Type: domain.ProviderOpenAI,
		Keys: []domain.ProviderKey{{Sealed: "gs1:0000abcd:sealed-" + id, Last4: "wxyz"}}, CreatedAt: t0, UpdatedAt: t0}
}

func model(id, name string, providerIDs ...string) domain.Model {
	m := domain.Model{ID: id, Name: name, Targets: []domain.ModelTarget{},
		Price: domain.Price{InputPer1M: 150_000, CachedInputPer1M: 75_000, OutputPer1M: 600_000}, CreatedAt: t0, UpdatedAt: t0}
	for i, p := range providerIDs {
		m.Targets = append(m.Targets, domain.ModelTarget{ProviderID: p, Model: fmt.Sprintf("%s-upstream-%d", name, i)})
	}
	return m
}

func budget(id, tenantID, scope, scopeID, period string) domain.Budget {
	return domain.Budget{ID: id, TenantID: tenantID, Scope: scope, ScopeID: scopeID, Amount: 1_000_000, Period: period,
		CreatedAt: t0, UpdatedAt: t0}
}

func prompt(id, tenantID, name, modelName string) domain.Prompt {
	return domain.Prompt{ID: id, TenantID: tenantID, Name: name, Template: "Summarise {{text}}.",
		Variables: []domain.PromptVariable{{Name: "text", Type: domain.VarString}}, Model: modelName, CreatedAt: t0, UpdatedAt: t0}
}

// sameProvider compares providers including the sealed keys, which JSON
// (and so dump) hides.
func sameProvider(t *testing.T, what string, got, want domain.Provider) {
	t.Helper()
	same(t, what, got, want)
	if len(got.Keys) == len(want.Keys) {
		for i := range got.Keys {
			if got.Keys[i].Sealed != want.Keys[i].Sealed {
				t.Errorf("%s: keys[%d] sealed %q, want %q", what, i, got.Keys[i].Sealed, want.Keys[i].Sealed)
			}
		}
	}
}

func testProviders(t *testing.T, s store.Store, a store.AIStore) {
	cases := []struct {
		desc string
		in   domain.Provider
	}{
		{"minimal: nil keys and deployments stay nil", domain.Provider{ID: "prv_a", Name: "a", Type: domain.ProviderOpenAI, CreatedAt: t0, UpdatedAt: t0}},
		{"every field, several sealed keys in order", domain.Provider{ID: "prv_b", Name: "azure-east", Type: domain.ProviderAzure,
			BaseURL: "https://east.openai.azure.com", Keys: []domain.ProviderKey{{Sealed: "gs1:0000abcd:one", Last4: "AAAA"},
				{Sealed: "gs1:0000abcd:two", Last4: ""}, {Sealed: "gs1:0000abcd:three", Last4: "CCCC"}},
			APIVersion: "2024-10-21", Deployments: map[string]string{"gpt-4o": "prod-4o", "gpt-4o-mini": "mini"}, Declared: true,
			CreatedAt: at(-time.Hour), UpdatedAt: at(time.Hour)}},
		{"empty keys and deployments stay empty", domain.Provider{ID: "prv_c", Name: "c", Type: domain.ProviderGemini,
			Keys: []domain.ProviderKey{}, Deployments: map[string]string{}, CreatedAt: t0, UpdatedAt: t0}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			aiUpdate(t, s, func(ctx context.Context, tx store.AITx) error { return tx.PutProvider(ctx, tc.in) })
			aiView(t, s, func(ctx context.Context, tx store.AITx) error {
				for _, ref := range []string{tc.in.ID, tc.in.Name} {
					got, err := tx.GetProvider(ctx, ref)
					if err != nil {
						return err
					}
					sameProvider(t, "GetProvider("+ref+")", got, tc.in)
				}
				return nil
			})
		})
	}
	errCases := []struct {
		desc  string
		fn    func(ctx context.Context, tx store.AITx) error
		kind  error
		parts []string
	}{
		{"a taken name conflicts and is named", func(ctx context.Context, tx store.AITx) error {
			return tx.PutProvider(ctx, provider("prv_x", "azure-east"))
		}, store.ErrConflict, []string{"name", `"azure-east"`}},
		{"an unknown provider is not found, named", func(ctx context.Context, tx store.AITx) error {
			_, err := tx.GetProvider(ctx, "prv_nope")
			return err
		}, store.ErrNotFound, []string{"prv_nope"}},
		{"deleting an unknown provider is not found", func(ctx context.Context, tx store.AITx) error {
			return tx.DeleteProvider(ctx, "prv_nope")
		}, store.ErrNotFound, []string{"prv_nope"}},
	}
	for _, tc := range errCases {
		t.Run(tc.desc, func(t *testing.T) {
			wantErr(t, tc.desc, aiUpdateErr(t, s, tc.fn), tc.kind, tc.parts...)
		})
	}
	t.Run("update in place replaces every field", func(t *testing.T) {
		p := cases[1].in
		p.Name, p.Keys, p.Deployments, p.UpdatedAt = "azure-west", []domain.ProviderKey{{Sealed: "gs1:0000abcd:four", Last4: "DDDD"}}, nil, at(2*time.Hour)
		aiUpdate(t, s, func(ctx context.Context, tx store.AITx) error { return tx.PutProvider(ctx, p) })
		aiView(t, s, func(ctx context.Context, tx store.AITx) error {
			got, err := tx.GetProvider(ctx, p.ID)
			sameProvider(t, "after update", got, p)
			_, gone := tx.GetProvider(ctx, "azure-east")
			wantErr(t, "the old name", gone, store.ErrNotFound, "azure-east")
			return err
		})
	})
	t.Run("delete", func(t *testing.T) {
		aiUpdate(t, s, func(ctx context.Context, tx store.AITx) error { return tx.DeleteProvider(ctx, "prv_a") })
		items, _, err := a.ListProviders(t.Context(), store.ListFilter{})
		if err != nil {
			t.Fatal(err)
		}
		same(t, "providers left", ids(items, func(p domain.Provider) string { return p.ID }), []string{"prv_b", "prv_c"})
	})
}

func testModels(t *testing.T, s store.Store, a store.AIStore) {
	aiUpdate(t, s, func(ctx context.Context, tx store.AITx) error {
		return errors.Join(tx.PutProvider(ctx, provider("prv_1", "openai")), tx.PutProvider(ctx, provider("prv_2", "groq")))
	})
	full := domain.Model{ID: "mdl_b", Name: "chat-default", Targets: []domain.ModelTarget{
		{ProviderID: "prv_2", Model: "llama-3.3-70b"}, {ProviderID: "prv_1", Model: "gpt-4o-mini"}, {ProviderID: "prv_2", Model: "llama-3.1-8b"}},
		Price:           domain.Price{InputPer1M: 150_000, CachedInputPer1M: 75_000, OutputPer1M: 600_000, CacheWritePer1M: 187_500, Source: "defaults 2025-06-01"},
		MaxOutputTokens: 8192, CreatedAt: at(-time.Hour), UpdatedAt: at(time.Hour)}
	cases := []struct {
		desc string
		in   domain.Model
	}{
		{"targets in their fallback order, every price field", full},
		{"a free model: zero prices", domain.Model{ID: "mdl_a", Name: "local", Targets: []domain.ModelTarget{{ProviderID: "prv_1", Model: "llama3:8b"}},
			CreatedAt: t0, UpdatedAt: t0}},
		{"a price too large for a float64 to hold exactly", domain.Model{ID: "mdl_c", Name: "big", Targets: []domain.ModelTarget{{ProviderID: "prv_1", Model: "x"}},
			Price: domain.Price{InputPer1M: 9_007_199_254_740_993, CachedInputPer1M: 1, OutputPer1M: 123_456_789}, CreatedAt: t0, UpdatedAt: t0}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			aiUpdate(t, s, func(ctx context.Context, tx store.AITx) error { return tx.PutModel(ctx, tc.in) })
			aiView(t, s, func(ctx context.Context, tx store.AITx) error {
				for _, ref := range []string{tc.in.ID, tc.in.Name} {
					got, err := tx.GetModel(ctx, ref)
					if err != nil {
						return err
					}
					same(t, "GetModel("+ref+")", got, tc.in)
				}
				return nil
			})
		})
	}
	errCases := []struct {
		desc  string
		in    domain.Model
		kind  error
		parts []string
	}{
		{"a taken name conflicts and is named", model("mdl_x", "chat-default", "prv_1"), store.ErrConflict, []string{"name", `"chat-default"`}},
		{"a target's unknown provider is not found, named", model("mdl_y", "y", "prv_1", "prv_ghost"), store.ErrNotFound, []string{"provider", "prv_ghost"}},
	}
	for _, tc := range errCases {
		t.Run(tc.desc, func(t *testing.T) {
			err := aiUpdateErr(t, s, func(ctx context.Context, tx store.AITx) error { return tx.PutModel(ctx, tc.in) })
			wantErr(t, tc.desc, err, tc.kind, tc.parts...)
		})
	}
	t.Run("a failed put leaves no partial targets", func(t *testing.T) {
		aiView(t, s, func(ctx context.Context, tx store.AITx) error {
			_, err := tx.GetModel(ctx, "mdl_y")
			wantErr(t, "mdl_y after a refused put", err, store.ErrNotFound, "mdl_y")
			return nil
		})
	})
	t.Run("update replaces the targets", func(t *testing.T) {
		m := full
		m.Targets = []domain.ModelTarget{{ProviderID: "prv_1", Model: "gpt-4o"}}
		m.Price.Source, m.UpdatedAt = "", at(2*time.Hour)
		aiUpdate(t, s, func(ctx context.Context, tx store.AITx) error { return tx.PutModel(ctx, m) })
		aiView(t, s, func(ctx context.Context, tx store.AITx) error {
			got, err := tx.GetModel(ctx, m.ID)
			same(t, "after update", got, m)
			return err
		})
	})
	t.Run("delete removes the model and its targets", func(t *testing.T) {
		aiUpdate(t, s, func(ctx context.Context, tx store.AITx) error { return tx.DeleteModel(ctx, "mdl_b") })
		err := aiUpdateErr(t, s, func(ctx context.Context, tx store.AITx) error { return tx.DeleteModel(ctx, "mdl_b") })
		wantErr(t, "second delete", err, store.ErrNotFound, "mdl_b")
		// Its provider is free again once no model targets it.
		items, _, err := a.ListModels(t.Context(), store.ListFilter{})
		if err != nil {
			t.Fatal(err)
		}
		same(t, "models left", ids(items, func(m domain.Model) string { return m.ID }), []string{"mdl_a", "mdl_c"})
		aiUpdate(t, s, func(ctx context.Context, tx store.AITx) error { return tx.DeleteProvider(ctx, "prv_2") })
	})
}

func testAIAccess(t *testing.T, s store.Store, a store.AIStore) {
	seed(t, s)
	in := domain.AIAccess{ConsumerID: "con_1", Models: []string{"gpt-4o-mini", "claude*"}, CreatedAt: at(-time.Hour), UpdatedAt: at(time.Hour)}
	aiUpdate(t, s, func(ctx context.Context, tx store.AITx) error { return tx.PutAIAccess(ctx, in) })
	aiView(t, s, func(ctx context.Context, tx store.AITx) error {
		got, err := tx.GetAIAccess(ctx, "con_1")
		same(t, "GetAIAccess", got, in)
		return err
	})
	in.Models, in.UpdatedAt = []string{"*"}, at(2*time.Hour)
	aiUpdate(t, s, func(ctx context.Context, tx store.AITx) error { return tx.PutAIAccess(ctx, in) })
	aiView(t, s, func(ctx context.Context, tx store.AITx) error {
		got, err := tx.GetAIAccess(ctx, "con_1")
		same(t, "after a second put (one list per consumer)", got, in)
		return err
	})
	cases := []struct {
		desc  string
		fn    func(ctx context.Context, tx store.AITx) error
		kind  error
		parts []string
	}{
		{"an unknown consumer is not found", func(ctx context.Context, tx store.AITx) error {
			return tx.PutAIAccess(ctx, domain.AIAccess{ConsumerID: "con_ghost", Models: []string{"x"}, CreatedAt: t0, UpdatedAt: t0})
		}, store.ErrNotFound, []string{"consumer", "con_ghost"}},
		{"an unknown consumer has no list", func(ctx context.Context, tx store.AITx) error {
			_, err := tx.GetAIAccess(ctx, "con_ghost")
			return err
		}, store.ErrNotFound, []string{"con_ghost"}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			wantErr(t, tc.desc, aiUpdateErr(t, s, tc.fn), tc.kind, tc.parts...)
		})
	}
	t.Run("delete, then a second delete is not found", func(t *testing.T) {
		aiUpdate(t, s, func(ctx context.Context, tx store.AITx) error { return tx.DeleteAIAccess(ctx, "con_1") })
		aiView(t, s, func(ctx context.Context, tx store.AITx) error {
			_, err := tx.GetAIAccess(ctx, "con_1")
			wantErr(t, "GetAIAccess after delete", err, store.ErrNotFound, "con_1")
			return nil
		})
		err := aiUpdateErr(t, s, func(ctx context.Context, tx store.AITx) error { return tx.DeleteAIAccess(ctx, "con_1") })
		wantErr(t, "second delete", err, store.ErrNotFound, "con_1")
		items, _, err := a.ListAIAccess(t.Context(), store.ListFilter{})
		if err != nil || len(items) != 0 {
			t.Fatalf("ListAIAccess after delete: %v %v", items, err)
		}
	})
}

func testBudgets(t *testing.T, s store.Store, a store.AIStore) {
	seed(t, s)
	cases := []struct {
		desc string
		in   domain.Budget
	}{
		{"money per day", budget("bdg_a", "ten_1", domain.BudgetScopeConsumer, "con_1", domain.BudgetPeriodDay)},
		{"every field", domain.Budget{ID: "bdg_b", TenantID: "ten_1", Scope: domain.BudgetScopeConsumer, ScopeID: "con_1", Amount: 12_345_678,
			Period: domain.BudgetPeriodMonth, RPM: 60, TPM: 100_000, CreatedAt: at(-time.Hour), UpdatedAt: at(time.Hour)}},
		{"rate limits only", domain.Budget{ID: "bdg_c", TenantID: "ten_1", Scope: domain.BudgetScopeTenant, ScopeID: "ten_1", RPM: 1000,
			CreatedAt: t0, UpdatedAt: t0}},
		{"a credential's budget", budget("bdg_d", "ten_1", domain.BudgetScopeCredential, "key_1", domain.BudgetPeriodDay)},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			aiUpdate(t, s, func(ctx context.Context, tx store.AITx) error { return tx.PutBudget(ctx, tc.in) })
			aiView(t, s, func(ctx context.Context, tx store.AITx) error {
				got, err := tx.GetBudget(ctx, tc.in.ID)
				same(t, "GetBudget", got, tc.in)
				return err
			})
		})
	}
	errCases := []struct {
		desc  string
		fn    func(ctx context.Context, tx store.AITx) error
		kind  error
		parts []string
	}{
		{"a second budget of the same scope and period conflicts", func(ctx context.Context, tx store.AITx) error {
			return tx.PutBudget(ctx, budget("bdg_x", "ten_1", domain.BudgetScopeConsumer, "con_1", domain.BudgetPeriodDay))
		}, store.ErrConflict, []string{"consumer", `"con_1"`, `"day"`}},
		{"an unknown tenant is not found", func(ctx context.Context, tx store.AITx) error {
			return tx.PutBudget(ctx, budget("bdg_y", "ten_ghost", domain.BudgetScopeTenant, "ten_ghost", domain.BudgetPeriodDay))
		}, store.ErrNotFound, []string{"tenant", "ten_ghost"}},
		{"an unknown budget is not found", func(ctx context.Context, tx store.AITx) error {
			_, err := tx.GetBudget(ctx, "bdg_nope")
			return err
		}, store.ErrNotFound, []string{"bdg_nope"}},
		{"deleting an unknown budget is not found", func(ctx context.Context, tx store.AITx) error {
			return tx.DeleteBudget(ctx, "bdg_nope")
		}, store.ErrNotFound, []string{"bdg_nope"}},
	}
	for _, tc := range errCases {
		t.Run(tc.desc, func(t *testing.T) {
			wantErr(t, tc.desc, aiUpdateErr(t, s, tc.fn), tc.kind, tc.parts...)
		})
	}
	t.Run("delete frees the scope and period", func(t *testing.T) {
		aiUpdate(t, s, func(ctx context.Context, tx store.AITx) error {
			if err := tx.DeleteBudget(ctx, "bdg_a"); err != nil {
				return err
			}
			return tx.PutBudget(ctx, budget("bdg_e", "ten_1", domain.BudgetScopeConsumer, "con_1", domain.BudgetPeriodDay))
		})
	})
}

func testPrompts(t *testing.T, s store.Store, a store.AIStore) {
	seed(t, s)
	update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutTenant(ctx, tenant("ten_2", "beta")) })
	full := domain.Prompt{ID: "prm_b", TenantID: "ten_1", Name: "summarise", Template: "Summarise in {{ words }} words:\n\n{{text}}\n\\{{literal}}",
		Variables: []domain.PromptVariable{{Name: "text", Type: domain.VarString}, {Name: "words", Type: domain.VarInteger}},
		Model:     "chat-default", CreatedAt: at(-time.Hour), UpdatedAt: at(time.Hour)}
	cases := []struct {
		desc string
		in   domain.Prompt
	}{
		{"every field, variables in order", full},
		{"no variables: nil stays nil", domain.Prompt{ID: "prm_a", TenantID: "ten_1", Name: "hello", Template: "Say hello.", Model: "m",
			CreatedAt: t0, UpdatedAt: t0}},
		{"the same name in another tenant", prompt("prm_c", "ten_2", "summarise", "m")},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			aiUpdate(t, s, func(ctx context.Context, tx store.AITx) error { return tx.PutPrompt(ctx, tc.in) })
			aiView(t, s, func(ctx context.Context, tx store.AITx) error {
				got, err := tx.GetPrompt(ctx, tc.in.ID)
				same(t, "GetPrompt", got, tc.in)
				return err
			})
		})
	}
	errCases := []struct {
		desc  string
		fn    func(ctx context.Context, tx store.AITx) error
		kind  error
		parts []string
	}{
		{"a name taken in the same tenant conflicts", func(ctx context.Context, tx store.AITx) error {
			return tx.PutPrompt(ctx, prompt("prm_x", "ten_1", "summarise", "m"))
		}, store.ErrConflict, []string{"name", `"summarise"`}},
		{"an unknown tenant is not found", func(ctx context.Context, tx store.AITx) error {
			return tx.PutPrompt(ctx, prompt("prm_y", "ten_ghost", "p", "m"))
		}, store.ErrNotFound, []string{"tenant", "ten_ghost"}},
		{"an unknown prompt is not found", func(ctx context.Context, tx store.AITx) error {
			_, err := tx.GetPrompt(ctx, "prm_nope")
			return err
		}, store.ErrNotFound, []string{"prm_nope"}},
	}
	for _, tc := range errCases {
		t.Run(tc.desc, func(t *testing.T) {
			wantErr(t, tc.desc, aiUpdateErr(t, s, tc.fn), tc.kind, tc.parts...)
		})
	}
	t.Run("a route's prompt id round-trips", func(t *testing.T) {
		r := route("rte_p", "svc_1")
		r.Type, r.PromptID = domain.RoutePrompt, "prm_b"
		update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutRoute(ctx, r) })
		view(t, s, func(ctx context.Context, tx store.Tx) error {
			got, err := tx.GetRoute(ctx, "rte_p")
			same(t, "GetRoute", got, r)
			return err
		})
	})
}

// testAIReferences checks what may not be deleted while something uses it.
func testAIReferences(t *testing.T, s store.Store, a store.AIStore) {
	seed(t, s)
	aiUpdate(t, s, func(ctx context.Context, tx store.AITx) error {
		return errors.Join(tx.PutProvider(ctx, provider("prv_1", "openai")), tx.PutModel(ctx, model("mdl_1", "chat", "prv_1")),
			tx.PutModel(ctx, model("mdl_2", "chat-2", "prv_1", "prv_1")), tx.PutPrompt(ctx, prompt("prm_1", "ten_1", "p", "chat")))
	})
	r := route("rte_p", "svc_1")
	r.Type, r.PromptID = domain.RoutePrompt, "prm_1"
	update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutRoute(ctx, r) })
	cases := []struct {
		desc  string
		fn    func(ctx context.Context, tx store.AITx) error
		parts []string
	}{
		{"a provider that models target", func(ctx context.Context, tx store.AITx) error { return tx.DeleteProvider(ctx, "prv_1") },
			[]string{"prv_1", "chat", "chat-2"}},
		{"a model a prompt names", func(ctx context.Context, tx store.AITx) error { return tx.DeleteModel(ctx, "mdl_1") },
			[]string{"chat", "prm_1"}},
		{"a prompt a route binds", func(ctx context.Context, tx store.AITx) error { return tx.DeletePrompt(ctx, "prm_1") },
			[]string{"prm_1", "rte_p"}},
	}
	for _, tc := range cases {
		t.Run(tc.desc+" cannot be deleted", func(t *testing.T) {
			wantErr(t, tc.desc, aiUpdateErr(t, s, tc.fn), store.ErrConflict, tc.parts...)
		})
	}
	t.Run("once unused, each can be deleted in one Update", func(t *testing.T) {
		v := version(t, s)
		update(t, s, func(ctx context.Context, tx store.Tx) error {
			a := aiTx(t, tx)
			return errors.Join(tx.DeleteRoute(ctx, "rte_p"), a.DeletePrompt(ctx, "prm_1"), a.DeleteModel(ctx, "mdl_1"),
				a.DeleteModel(ctx, "mdl_2"), a.DeleteProvider(ctx, "prv_1"))
		})
		if nv := version(t, s); nv != v+1 {
			t.Errorf("version %d after one Update, want %d", nv, v+1)
		}
		d, err := s.Load(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Providers)+len(d.Models)+len(d.Prompts) != 0 {
			t.Errorf("left after delete: %s", dump(d))
		}
	})
}

func testAIReadOnly(t *testing.T, s store.Store, a store.AIStore) {
	seed(t, s)
	v := version(t, s)
	writes := []struct {
		desc string
		fn   func(ctx context.Context, tx store.AITx) error
	}{
		{"PutProvider", func(ctx context.Context, tx store.AITx) error { return tx.PutProvider(ctx, provider("prv_1", "p")) }},
		{"DeleteProvider", func(ctx context.Context, tx store.AITx) error { return tx.DeleteProvider(ctx, "prv_1") }},
		{"PutModel", func(ctx context.Context, tx store.AITx) error { return tx.PutModel(ctx, model("mdl_1", "m")) }},
		{"DeleteModel", func(ctx context.Context, tx store.AITx) error { return tx.DeleteModel(ctx, "mdl_1") }},
		{"PutAIAccess", func(ctx context.Context, tx store.AITx) error {
			return tx.PutAIAccess(ctx, domain.AIAccess{ConsumerID: "con_1", Models: []string{"m"}, CreatedAt: t0, UpdatedAt: t0})
		}},
		{"DeleteAIAccess", func(ctx context.Context, tx store.AITx) error { return tx.DeleteAIAccess(ctx, "con_1") }},
		{"PutBudget", func(ctx context.Context, tx store.AITx) error {
			return tx.PutBudget(ctx, budget("bdg_1", "ten_1", domain.BudgetScopeTenant, "ten_1", domain.BudgetPeriodDay))
		}},
		{"DeleteBudget", func(ctx context.Context, tx store.AITx) error { return tx.DeleteBudget(ctx, "bdg_1") }},
		{"PutPrompt", func(ctx context.Context, tx store.AITx) error {
			return tx.PutPrompt(ctx, prompt("prm_1", "ten_1", "p", "m"))
		}},
		{"DeletePrompt", func(ctx context.Context, tx store.AITx) error { return tx.DeletePrompt(ctx, "prm_1") }},
	}
	for _, w := range writes {
		t.Run(w.desc+" in a View", func(t *testing.T) {
			err := s.View(t.Context(), func(tx store.Tx) error { return w.fn(t.Context(), aiTx(t, tx)) })
			wantErr(t, w.desc, err, store.ErrReadOnly)
		})
	}
	if nv := version(t, s); nv != v {
		t.Errorf("version moved from %d to %d in Views", v, nv)
	}
}

// testAILists pages every AI list by 2 and checks each filter.
func testAILists(t *testing.T, s store.Store, a store.AIStore) {
	update(t, s, func(ctx context.Context, tx store.Tx) error {
		var errs []error
		for _, tn := range []string{"ten_1", "ten_2"} {
			errs = append(errs, tx.PutTenant(ctx, tenant(tn, "slug-"+tn[4:])))
		}
		for i := 1; i <= 5; i++ {
			tn := "ten_1"
			if i > 3 {
				tn = "ten_2"
			}
			c := fmt.Sprintf("con_%d", i)
			errs = append(errs, tx.PutConsumer(ctx, consumer(c, tn, "c"+c)))
			at := aiTx(t, tx)
			errs = append(errs,
				at.PutProvider(ctx, provider(fmt.Sprintf("prv_%d", i), fmt.Sprintf("p%d", i))),
				at.PutModel(ctx, model(fmt.Sprintf("mdl_%d", i), fmt.Sprintf("m%d", i), fmt.Sprintf("prv_%d", i))),
				at.PutAIAccess(ctx, domain.AIAccess{ConsumerID: c, Models: []string{"m1"}, CreatedAt: t0, UpdatedAt: t0}),
				at.PutBudget(ctx, budget(fmt.Sprintf("bdg_%d", i), tn, domain.BudgetScopeConsumer, c, domain.BudgetPeriodDay)),
				at.PutPrompt(ctx, prompt(fmt.Sprintf("prm_%d", i), tn, string(rune('a'+(i-1)%3)), "m1")))
		}
		return errors.Join(errs...)
	})
	all := func(prefix string) []string {
		var out []string
		for i := 1; i <= 5; i++ {
			out = append(out, fmt.Sprintf("%s_%d", prefix, i))
		}
		return out
	}
	ctx := t.Context()
	lists := []struct {
		desc string
		list func(f store.ListFilter) ([]string, string, error)
		f    store.ListFilter
		want []string
	}{
		{"providers", func(f store.ListFilter) ([]string, string, error) {
			items, next, err := a.ListProviders(ctx, f)
			return ids(items, func(v domain.Provider) string { return v.ID }), next, err
		}, store.ListFilter{}, all("prv")},
		{"providers by name", func(f store.ListFilter) ([]string, string, error) {
			items, next, err := a.ListProviders(ctx, f)
			return ids(items, func(v domain.Provider) string { return v.ID }), next, err
		}, store.ListFilter{Name: "p3"}, []string{"prv_3"}},
		{"models", func(f store.ListFilter) ([]string, string, error) {
			items, next, err := a.ListModels(ctx, f)
			for _, m := range items {
				if len(m.Targets) != 1 {
					t.Errorf("listed model %s has targets %v", m.ID, m.Targets)
				}
			}
			return ids(items, func(v domain.Model) string { return v.ID }), next, err
		}, store.ListFilter{}, all("mdl")},
		{"models by name", func(f store.ListFilter) ([]string, string, error) {
			items, next, err := a.ListModels(ctx, f)
			return ids(items, func(v domain.Model) string { return v.ID }), next, err
		}, store.ListFilter{Name: "m2"}, []string{"mdl_2"}},
		{"allow-lists", func(f store.ListFilter) ([]string, string, error) {
			items, next, err := a.ListAIAccess(ctx, f)
			return ids(items, func(v domain.AIAccess) string { return v.ConsumerID }), next, err
		}, store.ListFilter{}, all("con")},
		{"allow-lists of a tenant's consumers", func(f store.ListFilter) ([]string, string, error) {
			items, next, err := a.ListAIAccess(ctx, f)
			return ids(items, func(v domain.AIAccess) string { return v.ConsumerID }), next, err
		}, store.ListFilter{TenantID: "ten_2"}, []string{"con_4", "con_5"}},
		{"allow-list of one consumer", func(f store.ListFilter) ([]string, string, error) {
			items, next, err := a.ListAIAccess(ctx, f)
			return ids(items, func(v domain.AIAccess) string { return v.ConsumerID }), next, err
		}, store.ListFilter{ConsumerID: "con_2"}, []string{"con_2"}},
		{"budgets", func(f store.ListFilter) ([]string, string, error) {
			items, next, err := a.ListBudgets(ctx, f)
			return ids(items, func(v domain.Budget) string { return v.ID }), next, err
		}, store.ListFilter{}, all("bdg")},
		{"budgets of a tenant", func(f store.ListFilter) ([]string, string, error) {
			items, next, err := a.ListBudgets(ctx, f)
			return ids(items, func(v domain.Budget) string { return v.ID }), next, err
		}, store.ListFilter{TenantID: "ten_1"}, []string{"bdg_1", "bdg_2", "bdg_3"}},
		{"budgets of a scope id", func(f store.ListFilter) ([]string, string, error) {
			items, next, err := a.ListBudgets(ctx, f)
			return ids(items, func(v domain.Budget) string { return v.ID }), next, err
		}, store.ListFilter{ScopeID: "con_4"}, []string{"bdg_4"}},
		{"prompts", func(f store.ListFilter) ([]string, string, error) {
			items, next, err := a.ListPrompts(ctx, f)
			return ids(items, func(v domain.Prompt) string { return v.ID }), next, err
		}, store.ListFilter{}, all("prm")},
		{"prompts by name (names are per tenant)", func(f store.ListFilter) ([]string, string, error) {
			items, next, err := a.ListPrompts(ctx, f)
			return ids(items, func(v domain.Prompt) string { return v.ID }), next, err
		}, store.ListFilter{Name: "a"}, []string{"prm_1", "prm_4"}},
		{"prompts of a tenant by name", func(f store.ListFilter) ([]string, string, error) {
			items, next, err := a.ListPrompts(ctx, f)
			return ids(items, func(v domain.Prompt) string { return v.ID }), next, err
		}, store.ListFilter{TenantID: "ten_2", Name: "a"}, []string{"prm_4"}},
	}
	for _, l := range lists {
		t.Run(l.desc, func(t *testing.T) {
			var got []string
			f := l.f
			f.Limit = 2
			for pages := 0; ; pages++ {
				if pages > 10 {
					t.Fatal("the cursor never ends")
				}
				items, next, err := l.list(f)
				if err != nil {
					t.Fatal(err)
				}
				if len(items) > 2 {
					t.Fatalf("page of %d items, limit 2", len(items))
				}
				got = append(got, items...)
				if next == "" {
					break
				}
				f.After = next
			}
			same(t, "pages joined", got, l.want)
			// One page of everything has no cursor.
			f = l.f
			items, next, err := l.list(f)
			if err != nil || next != "" {
				t.Fatalf("one big page: next %q, %v", next, err)
			}
			same(t, "one page", items, l.want)
		})
	}
	t.Run("an empty list is empty, not nil", func(t *testing.T) {
		items, next, err := a.ListPrompts(ctx, store.ListFilter{TenantID: "ten_nobody"})
		if err != nil || items == nil || len(items) != 0 || next != "" {
			t.Fatalf("ListPrompts of nobody: %v %q %v", items, next, err)
		}
	})
}

func testAILoad(t *testing.T, s store.Store, a store.AIStore) {
	seed(t, s)
	empty, err := s.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(empty.Providers)+len(empty.Models)+len(empty.AIAccess)+len(empty.Budgets)+len(empty.Prompts) != 0 {
		t.Fatalf("a store without AI objects loaded %s", dump(empty))
	}
	p1, p2 := provider("prv_1", "openai"), provider("prv_2", "anthropic")
	p2.Type, p2.Keys = domain.ProviderAnthropic, append(p2.Keys, domain.ProviderKey{Sealed: "gs1:0000abcd:second", Last4: "2222"})
	m1 := model("mdl_1", "chat", "prv_2", "prv_1")
	acc := domain.AIAccess{ConsumerID: "con_1", Models: []string{"chat"}, CreatedAt: t0, UpdatedAt: t0}
	b := budget("bdg_1", "ten_1", domain.BudgetScopeConsumer, "con_1", domain.BudgetPeriodMonth)
	pr := prompt("prm_1", "ten_1", "p", "chat")
	v := version(t, s)
	aiUpdate(t, s, func(ctx context.Context, tx store.AITx) error {
		return errors.Join(tx.PutProvider(ctx, p2), tx.PutProvider(ctx, p1), tx.PutModel(ctx, m1), tx.PutAIAccess(ctx, acc),
			tx.PutBudget(ctx, b), tx.PutPrompt(ctx, pr))
	})
	if nv := version(t, s); nv != v+1 {
		t.Errorf("version %d after one Update, want %d", nv, v+1)
	}
	d, err := s.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if d.Version != v+1 {
		t.Errorf("Load version %d, want %d", d.Version, v+1)
	}
	if len(d.Providers) != 2 {
		t.Fatalf("Load providers %s", dump(d.Providers))
	}
	sameProvider(t, "Load providers[0]", d.Providers[0], p1)
	sameProvider(t, "Load providers[1] (sealed keys, in order)", d.Providers[1], p2)
	same(t, "Load models (targets in fallback order)", d.Models, []domain.Model{m1})
	same(t, "Load allow-lists", d.AIAccess, []domain.AIAccess{acc})
	same(t, "Load budgets", d.Budgets, []domain.Budget{b})
	same(t, "Load prompts", d.Prompts, []domain.Prompt{pr})
}
