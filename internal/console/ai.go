package console

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"gatehouse/internal/analytics"
	"gatehouse/internal/domain"
)

// The AI gateway's pages (issue 9, build item 2): providers, the model
// catalogue and budgets with their spend. Like every other page they read
// and write through the admin API in-process, so provider keys are sealed
// by the API on the way in and never come back (the API answers a count
// and the last four characters), and roles are the API's: providers and
// models are changed by gateway admins only, budgets by admins and
// tenant-admins within their tenant, and viewers read.

type (
	providerItem struct {
		domain.Provider
		KeyCount int `json:"key_count"`
	}
	modelTarget struct {
		Provider     string `json:"provider"`
		ProviderName string `json:"provider_name"`
		Model        string `json:"model"`
	}
	modelItem struct {
		domain.Model
		Targets []modelTarget `json:"targets"`
	}
	// statsCost is the part of a /stats answer a budget needs.
	statsCost struct {
		analytics.Report
		Cost       domain.Micros   `json:"cost"`
		CostSeries []domain.Micros `json:"cost_series"`
	}
)

// ---- providers ----

func (c *Console) providers(w http.ResponseWriter, r *http.Request, rs *reqState) {
	d, err := listPageOf[providerItem](c, r, rs, query(r, "name"), "providers")
	if err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	c.tpl.render(w, http.StatusOK, "c_providers", "", c.view(rs, "providers", "AI providers", d))
}

// providerKeys reads the API keys typed into a provider form: one per
// line (or comma-separated). They go to the admin API and nowhere else:
// not into a flash, a log line or a page.
func providerKeys(r *http.Request) []string { return formList(r.PostFormValue("api_keys")) }

func (c *Console) createProvider(w http.ResponseWriter, r *http.Request, rs *reqState) {
	body := map[string]any{"name": strings.TrimSpace(r.PostFormValue("name")), "type": strings.TrimSpace(r.PostFormValue("type"))}
	for _, f := range []string{"base_url", "api_version"} {
		if v := strings.TrimSpace(r.PostFormValue(f)); v != "" {
			body[f] = v
		}
	}
	if k := providerKeys(r); len(k) > 0 {
		body["api_keys"] = k
	}
	var p providerItem
	if err := c.post(r, rs, body, &p, "providers"); err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	c.done(w, r, rs, fmt.Sprintf("Provider %s created with %d API key(s), stored encrypted: they are never shown again.", p.Name, p.KeyCount), c.base+"/providers")
}

// providerOp replaces a provider's keys or deletes it.
func (c *Console) providerOp(w http.ResponseWriter, r *http.Request, rs *reqState) {
	id := r.PathValue("id")
	switch r.PathValue("op") {
	case "keys":
		var p providerItem
		if err := c.api.do(r.Context(), rs.se.token, http.MethodPatch, pathOf(nil, "providers", id), map[string]any{"api_keys": providerKeys(r)}, &p); err != nil {
			c.apiFailed(w, r, rs, err)
			return
		}
		c.done(w, r, rs, fmt.Sprintf("Provider %s now has %d API key(s); the previous keys are no longer used.", p.Name, p.KeyCount), c.base+"/providers")
	case "delete":
		if err := c.api.do(r.Context(), rs.se.token, http.MethodDelete, pathOf(nil, "providers", id), nil, nil); err != nil {
			c.apiFailed(w, r, rs, err)
			return
		}
		c.done(w, r, rs, "Provider deleted.", c.base+"/providers")
	default:
		http.NotFound(w, r)
	}
}

// ---- models ----

func (c *Console) models(w http.ResponseWriter, r *http.Request, rs *reqState) {
	d, err := listPageOf[modelItem](c, r, rs, query(r, "name"), "models")
	if err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	c.tpl.render(w, http.StatusOK, "c_models", "", c.view(rs, "models", "AI models", d))
}

// modelTargets reads "provider: model" lines (in fallback order).
func modelTargets(s string) ([]map[string]string, error) {
	var out []map[string]string
	for _, line := range formList(s) {
		p, m, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(p) == "" || strings.TrimSpace(m) == "" {
			return nil, fmt.Errorf("target %q: write one target per line as provider: model, e.g. openai-main: gpt-4o-mini", line)
		}
		out = append(out, map[string]string{"provider": strings.TrimSpace(p), "model": strings.TrimSpace(m)})
	}
	return out, nil
}

func (c *Console) createModel(w http.ResponseWriter, r *http.Request, rs *reqState) {
	targets, err := modelTargets(r.PostFormValue("targets"))
	if err != nil {
		c.renderError(w, r, rs, http.StatusBadRequest, "Model not created", err.Error(), "")
		return
	}
	body := map[string]any{"name": strings.TrimSpace(r.PostFormValue("name")), "targets": targets}
	price := map[string]string{}
	for _, f := range []string{"input_per_1m", "output_per_1m", "cached_input_per_1m"} {
		if v := strings.TrimSpace(r.PostFormValue(f)); v != "" {
			price[f] = v
		}
	}
	if len(price) > 0 {
		body["price"] = price
	}
	if v := strings.TrimSpace(r.PostFormValue("max_output_tokens")); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			c.renderError(w, r, rs, http.StatusBadRequest, "Model not created", "max output tokens must be a whole number.", "")
			return
		}
		body["max_output_tokens"] = n
	}
	var m modelItem
	if err := c.post(r, rs, body, &m, "models"); err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	c.done(w, r, rs, "Model "+m.Name+" added to the catalogue.", c.base+"/models")
}

func (c *Console) deleteModel(w http.ResponseWriter, r *http.Request, rs *reqState) {
	if err := c.api.do(r.Context(), rs.se.token, http.MethodDelete, pathOf(nil, "models", r.PathValue("id")), nil, nil); err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	c.done(w, r, rs, "Model deleted.", c.base+"/models")
}

// ---- budgets ----

// budgetRow is a budget with what was spent in its current period, read
// from the rollups (GET /stats: one query of the budget's consumer or
// tenant since the period began).
type budgetRow struct {
	domain.Budget
	// Counted is false when the rollups cannot say (a credential's
	// budget: rollups are per consumer, not per credential).
	Counted          bool
	Spent, Remaining domain.Micros
	// Used is Spent/Amount in percent (0 without a money limit).
	Used                   float64
	PeriodStart, PeriodEnd time.Time
	// Note says why Counted is false when the scope could be counted
	// (the gateway computes no rollups).
	Note string
}

// spendQuery is the /stats query of a budget's scope since its period
// began, and false when the rollups do not count that scope.
func spendQuery(b domain.Budget, start time.Time) (url.Values, bool) {
	q := url.Values{"since": {start.Format(time.RFC3339)}, "top": {"1"}, "group_by": {"hour"}}
	if b.Period == domain.BudgetPeriodMonth {
		q.Set("group_by", "day")
	}
	switch b.Scope {
	case domain.BudgetScopeConsumer:
		q.Set("consumer", b.ScopeID)
	case domain.BudgetScopeTenant:
		q.Set("tenant", b.ScopeID)
	default:
		return nil, false
	}
	return q, true
}

// budgetSpend fills a row's spend; q carries extra /stats parameters.
func (c *Console) budgetSpend(r *http.Request, rs *reqState, b domain.Budget, extra url.Values) (budgetRow, *statsCost, error) {
	row := budgetRow{Budget: b}
	row.PeriodStart, row.PeriodEnd = b.Window(c.clock.Now())
	q, ok := spendQuery(b, row.PeriodStart)
	if !ok {
		return row, nil, nil
	}
	for k, v := range extra {
		q[k] = v
	}
	var st statsCost
	if err := c.api.get(r.Context(), rs.se.token, pathOf(q, "stats"), &st); err != nil {
		if isStatus(err, http.StatusConflict) {
			// Rollups are off (analytics.enabled: false): the budget is
			// still enforced, its spend just is not recorded here.
			row.Note = "The gateway computes no rollups (analytics.enabled: false), so spend is not recorded here; the budget is still enforced."
			return row, nil, nil
		}
		return row, nil, err
	}
	row.Counted, row.Spent = true, st.Cost
	if b.Amount > 0 {
		row.Remaining = max(b.Amount-st.Cost, 0)
		row.Used = 100 * float64(st.Cost) / float64(b.Amount)
	}
	return row, &st, nil
}

// budgetsData is the budgets page.
type budgetsData struct {
	Rows    []budgetRow
	Next    string
	Filter  url.Values
	Names   *names
	Periods []string
	Scopes  []string
}

func (c *Console) budgets(w http.ResponseWriter, r *http.Request, rs *reqState) {
	ld, err := listPageOf[domain.Budget](c, r, rs, query(r, "tenant", "consumer", "scope_id"), "budgets")
	if err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	d := budgetsData{Next: ld.Next, Filter: ld.Filter, Names: ld.Names, Periods: []string{domain.BudgetPeriodDay, domain.BudgetPeriodMonth},
		Scopes: []string{domain.BudgetScopeConsumer, domain.BudgetScopeCredential, domain.BudgetScopeTenant}}
	for _, b := range ld.Items {
		row, _, err := c.budgetSpend(r, rs, b, nil)
		if err != nil && statusOf(err) >= 500 {
			c.apiFailed(w, r, rs, err)
			return
		}
		d.Rows = append(d.Rows, row)
	}
	c.tpl.render(w, http.StatusOK, "c_budgets", "", c.view(rs, "budgets", "AI budgets", d))
}

// budgetData is one budget with its spend over the current period.
type budgetData struct {
	Row    budgetRow
	Names  *names
	Charts []chart
	Step   string
}

func (c *Console) budget(w http.ResponseWriter, r *http.Request, rs *reqState) {
	var b domain.Budget
	if err := c.api.get(r.Context(), rs.se.token, pathOf(nil, "budgets", r.PathValue("id")), &b); err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	row, st, err := c.budgetSpend(r, rs, b, url.Values{"series_by": {"cost"}})
	if err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	d := budgetData{Row: row, Names: c.names(r, rs), Charts: []chart{}}
	if st != nil {
		d.Step = st.GroupBy
		x := make([]int64, len(st.Series))
		per, cum, limit := make([]float64, len(x)), make([]float64, len(x)), make([]float64, len(x))
		var sum domain.Micros
		for i, p := range st.Series {
			x[i] = p.Time.Unix()
			if i < len(st.CostSeries) {
				sum += st.CostSeries[i]
				per[i] = float64(st.CostSeries[i]) / float64(domain.MicrosPerUnit)
			}
			cum[i] = float64(sum) / float64(domain.MicrosPerUnit)
			limit[i] = float64(b.Amount) / float64(domain.MicrosPerUnit)
		}
		lines := []series{{Label: "spent per " + st.GroupBy, Values: per}, {Label: "spent since " + row.PeriodStart.Format("2006-01-02"), Values: cum}}
		if b.Amount > 0 {
			lines = append(lines, series{Label: "limit", Values: limit})
		}
		d.Charts = append(d.Charts, chart{ID: "spend", Title: "Spend this " + b.Period, Unit: "currency", X: x, Series: lines})
	}
	c.tpl.render(w, http.StatusOK, "c_budget", "", c.view(rs, "budgets", "Budget "+b.ID, d))
}

func (c *Console) createBudget(w http.ResponseWriter, r *http.Request, rs *reqState) {
	body := map[string]any{"scope": strings.TrimSpace(r.PostFormValue("scope")), "scope_id": strings.TrimSpace(r.PostFormValue("scope_id"))}
	if a := strings.TrimSpace(r.PostFormValue("amount")); a != "" {
		body["amount"], body["period"] = a, strings.TrimSpace(r.PostFormValue("period"))
	}
	for _, f := range []string{"rpm", "tpm"} {
		if v := strings.TrimSpace(r.PostFormValue(f)); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				c.renderError(w, r, rs, http.StatusBadRequest, "Budget not created", strings.ToUpper(f)+" must be a whole number.", "")
				return
			}
			body[f] = n
		}
	}
	var b domain.Budget
	if err := c.post(r, rs, body, &b, "budgets"); err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	c.done(w, r, rs, "Budget "+b.ID+" set for "+b.Scope+" "+b.ScopeID+".", c.base+"/budgets/"+url.PathEscape(b.ID))
}

func (c *Console) deleteBudget(w http.ResponseWriter, r *http.Request, rs *reqState) {
	if err := c.api.do(r.Context(), rs.se.token, http.MethodDelete, pathOf(nil, "budgets", r.PathValue("id")), nil, nil); err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	c.done(w, r, rs, "Budget deleted.", c.base+"/budgets")
}
