package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"gatehouse/internal/domain"
)

// The AI gateway's catalogue (§11): `gatehouse provider …` and `gatehouse
// model …` (with `model access …` for a consumer's allowed models).
// Provider keys are read from files or stdin, never from arguments (they
// leak into ps and shell history), and never printed: the API shows only
// how many there are and the last four characters of each.

// providerItem is a provider as the admin API shows it.
type providerItem struct {
	domain.Provider
	KeyCount int `json:"key_count"`
}

// modelItem is a model as the admin API shows it: targets with their
// providers' names.
type modelItem struct {
	domain.Model
	Targets []struct {
		Provider     string `json:"provider"`
		ProviderName string `json:"provider_name"`
		Model        string `json:"model"`
	} `json:"targets"`
}

// accessItem is a consumer's model allow-list.
type accessItem struct {
	ConsumerID string     `json:"consumer"`
	Models     []string   `json:"models"`
	Restricted bool       `json:"restricted"`
	UpdatedAt  *time.Time `json:"updated_at"`
}

// readAPIKeys reads provider keys from files ("-": stdin), or from stdin
// when no file is named: one key per line, blank lines skipped.
func (a *app) readAPIKeys(files []string) ([]string, error) {
	if len(files) == 0 {
		files = []string{"-"}
	}
	var keys []string
	for _, f := range files {
		b, err := a.readFileArg(f, "API key")
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(string(b), "\n") {
			if k := strings.TrimSpace(line); k != "" {
				keys = append(keys, k)
			}
		}
	}
	return keys, nil
}

// parseDeployments reads --deployment model=name flags.
func parseDeployments(in []string) (map[string]string, error) {
	out := map[string]string{}
	for _, d := range in {
		m, dep, ok := strings.Cut(d, "=")
		if !ok || m == "" || dep == "" {
			return nil, fmt.Errorf("--deployment %q: write model=deployment, e.g. gpt-4o=prod-4o", d)
		}
		out[m] = dep
	}
	return out, nil
}

const keysNotArgs = "unexpected argument: API keys are read from --api-key-file files or stdin, never arguments " +
	"(they leak into ps and shell history); see --help"

func (a *app) providerCmd() *cobra.Command {
	var name, typ, baseURL, apiVersion string
	var keyFiles, deployments []string
	create := &cobra.Command{
		Use:   "create --name N --type openai|anthropic|gemini|azure-openai [--base-url U] --api-key-file F [--api-key-file G]…",
		Short: "Add an AI provider account; its API keys are read from files or stdin, stored encrypted and never shown",
		Long: "Add an AI provider account. Keys come from --api-key-file (one key per line, - for stdin), or from\n" +
			"stdin when no file is named; several keys are balanced round robin. They are never taken from the\n" +
			"command line, never printed, and stored encrypted under the gateway's master key.\n\n" +
			"Any OpenAI-compatible server (Ollama, vLLM, Mistral, Groq, DeepSeek) is --type openai with its --base-url.",
		Example: "  gatehouse provider create --name openai --type openai --api-key-file ~/.secrets/openai\n" +
			"  pass show anthropic | gatehouse provider create --name anthropic --type anthropic\n" +
			"  gatehouse provider create --name ollama --type openai --base-url http://127.0.0.1:11434/v1 --api-key-file <(echo ollama)\n" +
			"  gatehouse provider create --name azure --type azure-openai --base-url https://east.openai.azure.com \\\n" +
			"      --api-version 2024-10-21 --deployment gpt-4o=prod-4o --api-key-file azure.key",
		RunE: a.run(spec{required: []string{"name", "type"}, extraArgs: keysNotArgs}, func(ctx context.Context, c *client, _ []string) error {
			keys, err := a.readAPIKeys(keyFiles)
			if err != nil {
				return err
			}
			body := map[string]any{"name": name, "type": typ, "api_keys": keys}
			if baseURL != "" {
				body["base_url"] = baseURL
			}
			if apiVersion != "" {
				body["api_version"] = apiVersion
			}
			if len(deployments) > 0 {
				if body["deployments"], err = parseDeployments(deployments); err != nil {
					return err
				}
			}
			return object(ctx, a, c, http.MethodPost, "/providers", body, func(p providerItem) error {
				fmt.Fprintf(a.io.Out, "Added provider %s (%d key%s, stored encrypted). Use it with: gatehouse model create --target %s:<model> …\n",
					clean(p.Name), p.KeyCount, plural(p.KeyCount), clean(p.Name))
				return a.showProvider(p)
			})
		}),
	}
	f := create.Flags()
	f.StringVar(&name, "name", "", "a name for the provider (required)")
	f.StringVar(&typ, "type", "", "openai (or any OpenAI-compatible server), anthropic, gemini or azure-openai (required)")
	f.StringVar(&baseURL, "base-url", "", "the API's base URL (default: the type's public endpoint; required for azure-openai)")
	f.StringArrayVar(&keyFiles, "api-key-file", nil, "file holding API keys, one per line (- for stdin); repeatable (default: stdin)")
	f.StringVar(&apiVersion, "api-version", "", "azure-openai api-version, or anthropic-version")
	f.StringArrayVar(&deployments, "deployment", nil, "azure-openai: model=deployment; repeatable")

	var uBaseURL, uAPIVersion string
	var uKeyFiles []string
	update := &cobra.Command{
		Use:   "update <id|name> [--base-url U] [--api-version V] [--api-key-file F]…",
		Short: "Change a provider; --api-key-file replaces all its keys",
		RunE: a.run(spec{args: []string{"<id|name>"}, extraArgs: keysNotArgs}, func(ctx context.Context, c *client, args []string) error {
			body := map[string]any{}
			if uBaseURL != "" {
				body["base_url"] = uBaseURL
			}
			if uAPIVersion != "" {
				body["api_version"] = uAPIVersion
			}
			if len(uKeyFiles) > 0 {
				keys, err := a.readAPIKeys(uKeyFiles)
				if err != nil {
					return err
				}
				body["api_keys"] = keys
			}
			if len(body) == 0 {
				return errors.New("nothing to change: give --base-url, --api-version or --api-key-file")
			}
			return object(ctx, a, c, http.MethodPatch, "/providers/"+pathEscape(args[0]), body, func(p providerItem) error {
				fmt.Fprintf(a.io.Out, "Provider %s updated.\n", clean(p.Name))
				return a.showProvider(p)
			})
		}),
	}
	update.Flags().StringVar(&uBaseURL, "base-url", "", "new base URL")
	update.Flags().StringVar(&uAPIVersion, "api-version", "", "new api version")
	update.Flags().StringArrayVar(&uKeyFiles, "api-key-file", nil, "file holding the new API keys, one per line (- for stdin); replaces every key")

	var lf listFlags
	ls := &cobra.Command{
		Use:   "list",
		Short: "List AI providers (keys only as a count and last four characters)",
		RunE: a.run(spec{}, func(ctx context.Context, c *client, _ []string) error {
			return list(ctx, a, c, listing[providerItem]{
				path: "/providers", plural: "providers",
				header: []string{"ID", "NAME", "TYPE", "BASE URL", "KEYS"},
				row: func(p providerItem) []string {
					return []string{clean(p.ID), clean(p.Name), clean(p.Type), or(p.BaseURL, "(default)"), keySummary(p)}
				},
			}, nil, lf)
		}),
	}
	lf.add(ls)
	get := &cobra.Command{
		Use:   "get <id|name>",
		Short: "Show one provider (never its keys)",
		RunE: a.run(spec{args: []string{"<id|name>"}}, func(ctx context.Context, c *client, args []string) error {
			return object(ctx, a, c, http.MethodGet, "/providers/"+pathEscape(args[0]), nil, a.showProvider)
		}),
	}
	del := &cobra.Command{
		Use:   "delete <id|name>",
		Short: "Delete a provider no model targets",
		RunE: a.run(spec{args: []string{"<id|name>"}}, func(ctx context.Context, c *client, args []string) error {
			return remove(ctx, a, c, "/providers/"+pathEscape(args[0]), fmt.Sprintf("Provider %s deleted.", clean(args[0])))
		}),
	}
	return a.group("provider", "Manage AI provider accounts (OpenAI, Anthropic, Gemini, Azure OpenAI, OpenAI-compatible)",
		"AI provider accounts the gateway calls on its consumers' behalf. Their API keys are write-only.",
		create, update, ls, get, del)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// keySummary shows a provider's keys as a count and their last four.
func keySummary(p providerItem) string {
	var tails []string
	for _, k := range p.Keys {
		tails = append(tails, "…"+or(k.Last4, "????"))
	}
	s := strconv.Itoa(p.KeyCount)
	if len(tails) > 0 {
		s += " (" + strings.Join(tails, ", ") + ")"
	}
	return s
}

func (a *app) showProvider(p providerItem) error {
	kv := []string{"ID", clean(p.ID), "Name", clean(p.Name), "Type", clean(p.Type), "Base URL", or(p.BaseURL, "(the type's default)"),
		"Keys", keySummary(p) + ", stored encrypted"}
	if p.APIVersion != "" {
		kv = append(kv, "API version", clean(p.APIVersion))
	}
	if len(p.Deployments) > 0 {
		var ds []string
		for m, d := range p.Deployments {
			ds = append(ds, m+"="+d)
		}
		slices.Sort(ds)
		kv = append(kv, "Deployments", csv(ds))
	}
	if p.Declared {
		kv = append(kv, "Declared", "yes: in gatehouse.yaml, read-only here")
	}
	kv = append(kv, "Created", when(p.CreatedAt, a.io.Now()), "Updated", when(p.UpdatedAt, a.io.Now()))
	return fields(a.io.Out, kv...)
}

// parseTarget reads --target provider:model (the model may contain ':').
func parseTarget(s string) (map[string]string, error) {
	p, m, ok := strings.Cut(s, ":")
	if !ok || p == "" || m == "" {
		return nil, fmt.Errorf("--target %q: write provider:model, e.g. openai:gpt-4o-mini", s)
	}
	return map[string]string{"provider": p, "model": m}, nil
}

func (a *app) modelCmd() *cobra.Command {
	var name, pIn, pCached, pOut, pWrite string
	var targets []string
	var maxOut int64
	priceBody := func(cmd *cobra.Command) (map[string]any, error) {
		changed := func(n string) bool { return cmd.Flags().Changed(n) }
		if !changed("price-input") && !changed("price-output") && !changed("price-cached") && !changed("price-cache-write") {
			return nil, nil
		}
		if !changed("price-input") || !changed("price-output") {
			return nil, errors.New("give --price-input and --price-output together (decimal per 1M tokens; --price-cached defaults to the input price)")
		}
		p := map[string]any{"input_per_1m": pIn, "output_per_1m": pOut}
		if changed("price-cached") {
			p["cached_input_per_1m"] = pCached
		}
		if changed("price-cache-write") {
			p["cache_write_per_1m"] = pWrite
		}
		return p, nil
	}
	var create *cobra.Command
	create = &cobra.Command{
		Use:   "create --name N --target provider:model [--target provider:model]… [--price-input 0.15 --price-cached 0.075 --price-output 0.60]",
		Short: "Add a model alias with ordered targets (fallback order) and exact decimal prices per 1M tokens",
		Long: "Add a model alias clients send as \"model\". Targets are tried in order: the next one answers when a\n" +
			"target fails with 429, 5xx or a timeout before the first byte. Prices are exact decimals per 1M tokens;\n" +
			"without them the gateway's configured or shipped default price of the first known target model applies\n" +
			"(shipped prices are dated: verify them).",
		Example: "  gatehouse model create --name gpt-4o-mini --target openai:gpt-4o-mini --price-input 0.15 --price-cached 0.075 --price-output 0.60\n" +
			"  gatehouse model create --name chat --target anthropic:claude-sonnet-4-20250514 --target openai:gpt-4o\n" +
			"  gatehouse model create --name local --target ollama:llama3:8b --price-input 0 --price-output 0",
		RunE: a.run(spec{required: []string{"name", "target"}}, func(ctx context.Context, c *client, _ []string) error {
			body := map[string]any{"name": name}
			var ts []map[string]string
			for _, t := range targets {
				tg, err := parseTarget(t)
				if err != nil {
					return err
				}
				ts = append(ts, tg)
			}
			body["targets"] = ts
			price, err := priceBody(create)
			if err != nil {
				return err
			}
			if price != nil {
				body["price"] = price
			}
			if maxOut > 0 {
				body["max_output_tokens"] = maxOut
			}
			return object(ctx, a, c, http.MethodPost, "/models", body, func(m modelItem) error {
				fmt.Fprintf(a.io.Out, "Added model %s; clients send \"model\": %q.\n", clean(m.Name), m.Name)
				return a.showModel(m)
			})
		}),
	}
	f := create.Flags()
	f.StringVar(&name, "name", "", "the alias clients send as \"model\" (required)")
	f.StringArrayVar(&targets, "target", nil, "provider:model, in fallback order; repeatable (required)")
	f.StringVar(&pIn, "price-input", "", "price per 1M input tokens, decimal (e.g. 0.15)")
	f.StringVar(&pCached, "price-cached", "", "price per 1M cached input tokens (default: the input price)")
	f.StringVar(&pOut, "price-output", "", "price per 1M output tokens, decimal")
	f.StringVar(&pWrite, "price-cache-write", "", "price per 1M cache-write tokens (Anthropic; default: the input price)")
	f.Int64Var(&maxOut, "max-output-tokens", 0, "output tokens a budget reservation assumes when a request sets no max_tokens")

	var lf listFlags
	ls := &cobra.Command{
		Use:   "list",
		Short: "List the model catalogue",
		RunE: a.run(spec{}, func(ctx context.Context, c *client, _ []string) error {
			return list(ctx, a, c, listing[modelItem]{
				path: "/models", plural: "models",
				header: []string{"ID", "NAME", "TARGETS", "INPUT/1M", "CACHED/1M", "OUTPUT/1M", "PRICE FROM"},
				row: func(m modelItem) []string {
					return []string{clean(m.ID), clean(m.Name), modelTargets(m), m.Price.InputPer1M.String(), m.Price.CachedInputPer1M.String(),
						m.Price.OutputPer1M.String(), or(m.Price.Source, "given")}
				},
			}, nil, lf)
		}),
	}
	lf.add(ls)
	get := &cobra.Command{
		Use:   "get <id|name>",
		Short: "Show one model",
		RunE: a.run(spec{args: []string{"<id|name>"}}, func(ctx context.Context, c *client, args []string) error {
			return object(ctx, a, c, http.MethodGet, "/models/"+pathEscape(args[0]), nil, a.showModel)
		}),
	}
	del := &cobra.Command{
		Use:   "delete <id|name>",
		Short: "Delete a model no prompt uses; clients asking for it get ai.model_unknown",
		RunE: a.run(spec{args: []string{"<id|name>"}}, func(ctx context.Context, c *client, args []string) error {
			return remove(ctx, a, c, "/models/"+pathEscape(args[0]), fmt.Sprintf("Model %s deleted.", clean(args[0])))
		}),
	}
	return a.group("model", "Manage the AI model catalogue and consumers' allowed models",
		"Model aliases clients send as \"model\", each with provider targets in fallback order and exact prices;\n"+
			"`model access` restricts a consumer to some models.",
		create, ls, get, del, a.modelAccessCmd())
}

func modelTargets(m modelItem) string {
	var out []string
	for _, t := range m.Targets {
		out = append(out, or(t.ProviderName, t.Provider)+":"+t.Model)
	}
	return clean(strings.Join(out, " → "))
}

func (a *app) showModel(m modelItem) error {
	src := "given"
	if m.Price.Source != "" {
		src = m.Price.Source
		if strings.HasPrefix(src, "defaults") {
			src += " (shipped defaults: verify against the provider's prices)"
		}
	}
	kv := []string{"ID", clean(m.ID), "Name", clean(m.Name), "Targets", modelTargets(m),
		"Price /1M tokens", fmt.Sprintf("input %s, cached input %s, output %s", m.Price.InputPer1M, m.Price.CachedInputPer1M, m.Price.OutputPer1M)}
	if m.Price.CacheWritePer1M != 0 {
		kv = append(kv, "Cache write /1M", m.Price.CacheWritePer1M.String())
	}
	kv = append(kv, "Price from", clean(src))
	if m.MaxOutputTokens > 0 {
		kv = append(kv, "Max output tokens", strconv.FormatInt(m.MaxOutputTokens, 10))
	}
	kv = append(kv, "Created", when(m.CreatedAt, a.io.Now()))
	return fields(a.io.Out, kv...)
}

func (a *app) modelAccessCmd() *cobra.Command {
	accessPath := func(consumer string) string { return "/consumers/" + pathEscape(consumer) + "/models" }
	get := &cobra.Command{
		Use:   "get <consumer>",
		Short: "Show the models a consumer may use",
		RunE: a.run(spec{args: []string{"<consumer>"}}, func(ctx context.Context, c *client, args []string) error {
			return object(ctx, a, c, http.MethodGet, accessPath(args[0]), nil, a.showAccess)
		}),
	}
	var models []string
	set := &cobra.Command{
		Use:     "set <consumer> --model M [--model 'prefix*']…",
		Short:   "Restrict a consumer to these models; others answer ai.model_not_allowed",
		Example: "  gatehouse model access set acme/shop --model gpt-4o-mini --model 'claude*'",
		RunE: a.run(spec{args: []string{"<consumer>"}, required: []string{"model"}}, func(ctx context.Context, c *client, args []string) error {
			return object(ctx, a, c, http.MethodPut, accessPath(args[0]), map[string]any{"models": models}, func(v accessItem) error {
				fmt.Fprintf(a.io.Out, "Consumer %s may now use only: %s.\n", clean(args[0]), csv(v.Models))
				return a.showAccess(v)
			})
		}),
	}
	set.Flags().StringArrayVar(&models, "model", nil, "a model name or 'prefix*'; repeatable (required)")
	clr := &cobra.Command{
		Use:   "clear <consumer>",
		Short: "Remove a consumer's restriction: it may use every model",
		RunE: a.run(spec{args: []string{"<consumer>"}}, func(ctx context.Context, c *client, args []string) error {
			return remove(ctx, a, c, accessPath(args[0]), fmt.Sprintf("Consumer %s may now use every model.", clean(args[0])))
		}),
	}
	var lf listFlags
	var byTenant string
	ls := &cobra.Command{
		Use:   "list [--tenant T]",
		Short: "List consumers restricted to some models",
		RunE: a.run(spec{}, func(ctx context.Context, c *client, _ []string) error {
			q := url.Values{}
			if byTenant != "" {
				q.Set("tenant", byTenant)
			}
			return list(ctx, a, c, listing[accessItem]{
				path: "/model-access", plural: "model restrictions",
				header: []string{"CONSUMER", "MODELS", "UPDATED"},
				row: func(v accessItem) []string {
					return []string{clean(v.ConsumerID), csv(v.Models), whenPtr(v.UpdatedAt, a.io.Now(), "–")}
				},
			}, q, lf)
		}),
	}
	ls.Flags().StringVar(&byTenant, "tenant", "", "only this tenant's consumers")
	lf.add(ls)
	return a.group("access", "Restrict consumers to some models (ai.model_not_allowed for the others)",
		"A consumer without a restriction may use every model of the catalogue.", get, set, clr, ls)
}

func (a *app) showAccess(v accessItem) error {
	models := "every model (no restriction)"
	if v.Restricted {
		models = csv(v.Models)
	}
	return fields(a.io.Out, "Consumer", clean(v.ConsumerID), "Models", models)
}
