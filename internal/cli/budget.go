package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"gatehouse/internal/domain"
)

// `gatehouse budget …` (AI budgets: money per day or month, RPM, TPM) and
// `gatehouse prompt …` (prompt templates a route of type "prompt" serves).

func (a *app) budgetCmd() *cobra.Command {
	var scope, scopeID, amount, period string
	var rpm, tpm int64
	var create *cobra.Command
	create = &cobra.Command{
		Use:   "create --scope consumer|credential|tenant --scope-id REF [--amount 25.00 --period day|month] [--rpm N] [--tpm N]",
		Short: "Set an AI budget: money per UTC day or month, requests and tokens per minute",
		Long: "Set an AI budget on a consumer (id, name or tenant-slug/name), a credential (API key id or credential id)\n" +
			"or a tenant (id or slug; gateway admins only). Calls beyond it answer budget.exceeded or rate.exceeded.",
		Example: "  gatehouse budget create --scope consumer --scope-id acme/shop --amount 25.00 --period month\n" +
			"  gatehouse budget create --scope credential --scope-id 7Hq2xK9pLm3Q --rpm 60 --tpm 100000",
		RunE: a.run(spec{required: []string{"scope", "scope-id"}}, func(ctx context.Context, c *client, _ []string) error {
			body := map[string]any{"scope": scope, "scope_id": scopeID}
			if amount != "" {
				body["amount"] = amount
			}
			if period != "" {
				body["period"] = period
			}
			if create.Flags().Changed("rpm") {
				body["rpm"] = rpm
			}
			if create.Flags().Changed("tpm") {
				body["tpm"] = tpm
			}
			return object(ctx, a, c, http.MethodPost, "/budgets", body, func(b domain.Budget) error {
				fmt.Fprintf(a.io.Out, "Budget %s set on %s %s.\n", clean(b.ID), clean(b.Scope), clean(b.ScopeID))
				return a.showBudget(b)
			})
		}),
	}
	f := create.Flags()
	f.StringVar(&scope, "scope", "", "consumer, credential or tenant (required)")
	f.StringVar(&scopeID, "scope-id", "", "what the budget counts: consumer, credential or tenant reference (required)")
	f.StringVar(&amount, "amount", "", "money allowed per period, decimal (e.g. 25.00)")
	f.StringVar(&period, "period", "", "day or month (UTC calendar), with --amount")
	f.Int64Var(&rpm, "rpm", 0, "requests per minute")
	f.Int64Var(&tpm, "tpm", 0, "tokens per minute (prompt + completion)")

	var lf listFlags
	var byTenant, byConsumer, byScopeID string
	ls := &cobra.Command{
		Use:   "list [--tenant T] [--consumer C] [--scope-id ID]",
		Short: "List AI budgets",
		RunE: a.run(spec{}, func(ctx context.Context, c *client, _ []string) error {
			q := url.Values{}
			for k, v := range map[string]string{"tenant": byTenant, "consumer": byConsumer, "scope_id": byScopeID} {
				if v != "" {
					q.Set(k, v)
				}
			}
			return list(ctx, a, c, listing[domain.Budget]{
				path: "/budgets", plural: "budgets",
				header: []string{"ID", "SCOPE", "OF", "AMOUNT", "PERIOD", "RPM", "TPM"},
				row: func(b domain.Budget) []string {
					return []string{clean(b.ID), clean(b.Scope), clean(b.ScopeID), amountOr(b.Amount), or(b.Period, "–"), limitOr(b.RPM), limitOr(b.TPM)}
				},
			}, q, lf)
		}),
	}
	ls.Flags().StringVar(&byTenant, "tenant", "", "only this tenant's budgets")
	ls.Flags().StringVar(&byConsumer, "consumer", "", "only this consumer's budgets")
	ls.Flags().StringVar(&byScopeID, "scope-id", "", "only budgets of this consumer, credential or tenant id")
	lf.add(ls)

	get := &cobra.Command{
		Use:   "get <id>",
		Short: "Show one budget",
		RunE: a.run(spec{args: []string{"<id>"}}, func(ctx context.Context, c *client, args []string) error {
			return object(ctx, a, c, http.MethodGet, "/budgets/"+pathEscape(args[0]), nil, a.showBudget)
		}),
	}
	del := &cobra.Command{
		Use:   "delete <id>",
		Short: "Delete a budget",
		RunE: a.run(spec{args: []string{"<id>"}}, func(ctx context.Context, c *client, args []string) error {
			return remove(ctx, a, c, "/budgets/"+pathEscape(args[0]), fmt.Sprintf("Budget %s deleted.", clean(args[0])))
		}),
	}
	return a.group("budget", "Manage AI budgets (money per day or month, RPM, TPM)",
		"Budgets limit what a consumer, a credential or a tenant may spend on AI calls, and how fast.", create, ls, get, del)
}

func amountOr(m domain.Micros) string {
	if m == 0 {
		return "–"
	}
	return m.String()
}

func limitOr(n int64) string {
	if n == 0 {
		return "–"
	}
	return strconv.FormatInt(n, 10)
}

func (a *app) showBudget(b domain.Budget) error {
	kv := []string{"ID", clean(b.ID), "Scope", clean(b.Scope) + " " + clean(b.ScopeID), "Tenant", clean(b.TenantID)}
	if b.Amount > 0 {
		kv = append(kv, "Amount", b.Amount.String()+" per "+clean(b.Period)+" (UTC)")
	}
	kv = append(kv, "RPM", limitOr(b.RPM), "TPM", limitOr(b.TPM), "Created", when(b.CreatedAt, a.io.Now()))
	return fields(a.io.Out, kv...)
}

// parseVars reads --var name or name:type.
func parseVars(in []string) ([]map[string]string, error) {
	out := make([]map[string]string, 0, len(in))
	for _, v := range in {
		name, typ, _ := strings.Cut(v, ":")
		if name == "" {
			return nil, fmt.Errorf("--var %q: write a name, or name:type (string, number, integer, boolean)", v)
		}
		if typ == "" {
			typ = domain.VarString
		}
		out = append(out, map[string]string{"name": name, "type": typ})
	}
	return out, nil
}

// maxTemplateFile bounds --template-file (the API takes 64 KiB).
const maxTemplateFile = 64 << 10

func (a *app) promptCmd() *cobra.Command {
	var name, tenant, model, templateFile string
	var vars []string
	create := &cobra.Command{
		Use:   "create --name N --model M --template-file F [--var name[:type]]… [--tenant T]",
		Short: "Create a prompt template a route of type \"prompt\" can serve",
		Long: "Create a prompt template. In the template, {{name}} inserts a variable and \\{{ writes a literal \"{{\".\n" +
			"Every placeholder must be declared with --var (type string by default; number, integer or boolean) and\n" +
			"every declared variable used. A call to the route POSTs the variables as a JSON object; a missing or\n" +
			"mistyped one is a 400 naming it.",
		Example: "  gatehouse prompt create --tenant acme --name summarise --model gpt-4o-mini --template-file summarise.txt \\\n" +
			"      --var text --var words:integer\n" +
			"  gatehouse route create --service acme-ai --path /summarise --type prompt --prompt summarise",
		RunE: a.run(spec{required: []string{"name", "model", "template-file"}}, func(ctx context.Context, c *client, _ []string) error {
			tpl, err := a.readTemplate(templateFile)
			if err != nil {
				return err
			}
			vs, err := parseVars(vars)
			if err != nil {
				return err
			}
			body := map[string]any{"name": name, "model": model, "template": tpl, "variables": vs}
			if tenant != "" {
				body["tenant"] = tenant
			}
			return object(ctx, a, c, http.MethodPost, "/prompts", body, func(p domain.Prompt) error {
				fmt.Fprintf(a.io.Out, "Created prompt %s. Serve it with: gatehouse route create --service S --path /%s --type prompt --prompt %s\n",
					clean(p.Name), clean(p.Name), clean(p.ID))
				return a.showPrompt(p)
			})
		}),
	}
	f := create.Flags()
	f.StringVar(&name, "name", "", "the prompt's name (required)")
	f.StringVar(&model, "model", "", "the model alias it is sent to (required)")
	f.StringVar(&templateFile, "template-file", "", "file holding the template (- for stdin) (required)")
	f.StringArrayVar(&vars, "var", nil, "a declared variable, name or name:type; repeatable")
	f.StringVar(&tenant, "tenant", "", "tenant id or slug (default: a tenant-admin's own)")

	var lf listFlags
	var byTenant string
	ls := &cobra.Command{
		Use:   "list [--tenant T]",
		Short: "List prompt templates",
		RunE: a.run(spec{}, func(ctx context.Context, c *client, _ []string) error {
			q := url.Values{}
			if byTenant != "" {
				q.Set("tenant", byTenant)
			}
			return list(ctx, a, c, listing[domain.Prompt]{
				path: "/prompts", plural: "prompts",
				header: []string{"ID", "TENANT", "NAME", "MODEL", "VARIABLES"},
				row: func(p domain.Prompt) []string {
					return []string{clean(p.ID), clean(p.TenantID), clean(p.Name), clean(p.Model), varList(p.Variables)}
				},
			}, q, lf)
		}),
	}
	ls.Flags().StringVar(&byTenant, "tenant", "", "only this tenant's prompts")
	lf.add(ls)
	get := &cobra.Command{
		Use:   "get <id|name|tenant-slug/name>",
		Short: "Show one prompt with its template",
		RunE: a.run(spec{args: []string{"<id|name>"}}, func(ctx context.Context, c *client, args []string) error {
			return object(ctx, a, c, http.MethodGet, "/prompts/"+pathEscape(args[0]), nil, a.showPrompt)
		}),
	}
	del := &cobra.Command{
		Use:   "delete <id|name|tenant-slug/name>",
		Short: "Delete a prompt no route serves",
		RunE: a.run(spec{args: []string{"<id|name>"}}, func(ctx context.Context, c *client, args []string) error {
			return remove(ctx, a, c, "/prompts/"+pathEscape(args[0]), fmt.Sprintf("Prompt %s deleted.", clean(args[0])))
		}),
	}
	return a.group("prompt", "Manage prompt templates (routes of type \"prompt\")",
		"Prompt templates with declared, typed variables, bound to a model alias; a route of type \"prompt\" serves one.",
		create, ls, get, del)
}

// readTemplate reads a template file (or stdin for "-") as is.
func (a *app) readTemplate(path string) (string, error) {
	if path == "-" {
		b, err := a.readFileArg("-", "template")
		return string(b), err
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("reading the template: %w", err)
	}
	if st.Size() > maxTemplateFile {
		return "", errors.New("the template file is larger than 64 KiB")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading the template: %w", err)
	}
	return string(b), nil
}

func varList(vs []domain.PromptVariable) string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Name+":"+or(v.Type, domain.VarString))
	}
	return csv(out)
}

func (a *app) showPrompt(p domain.Prompt) error {
	if err := fields(a.io.Out, "ID", clean(p.ID), "Tenant", clean(p.TenantID), "Name", clean(p.Name), "Model", clean(p.Model),
		"Variables", varList(p.Variables), "Created", when(p.CreatedAt, a.io.Now())); err != nil {
		return err
	}
	_, err := fmt.Fprintf(a.io.Out, "Template:\n%s\n", cleanLines(p.Template))
	return err
}
