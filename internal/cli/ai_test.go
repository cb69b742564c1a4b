package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAICommands(t *testing.T) {
	e := newSecretsTestEnv(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const (
		keyA = "sk-proj-cliAAAA1111bbbb2222cccc3333dddd4444tailA"
		keyB = "sk-proj-cliBBBB5555eeee6666ffff7777gggg8888tailB"
		keyC = "sk-ant-cliCCCC9999hhhh0000iiii1111jjjj2222tailC"
	)
	fileA, fileB := write("a.key", keyA+"\n"), write("b.key", keyB+"\n")
	tpl := write("summarise.txt", "Summarise in {{words}} words:\n\n{{text}}\n")
	allKeys := []string{keyA, keyB, keyC}

	e.check(t, []cliCase{
		{desc: "setup tenant", args: []string{"tenant", "create", "--slug", "acme"}},
		{desc: "setup consumer", args: []string{"consumer", "create", "--tenant", "acme", "--name", "shop"}},
		{desc: "setup service", args: []string{"service", "create", "--tenant", "acme", "--name", "acme-ai", "--target", "http://127.0.0.1:9"}},

		// Providers.
		{desc: "a provider with keys from two files: count and last four only", args: []string{"provider", "create", "--name", "openai", "--type", "openai",
			"--api-key-file", fileA, "--api-key-file", fileB},
			out: []string{"Added provider openai (2 keys, stored encrypted)", "Keys:", "2 (…ailA, …ailB), stored encrypted", "--target openai:<model>"}, notOut: allKeys},
		{desc: "a provider with its key on stdin", args: []string{"provider", "create", "--name", "anthropic", "--type", "anthropic"},
			inv: invocation{stdin: keyC + "\n"}, out: []string{"Added provider anthropic (1 key"}, notOut: allKeys},
		{desc: "a key as an argument is refused unechoed", args: []string{"provider", "create", "--name", "x", "--type", "openai", keyA}, fail: true,
			errOut: []string{"API keys are read from --api-key-file files or stdin, never arguments"}, notOut: allKeys},
		{desc: "an OpenAI-compatible server", args: []string{"provider", "create", "--name", "ollama", "--type", "openai", "--base-url",
			"http://127.0.0.1:11434/v1", "--api-key-file", "-"}, inv: invocation{stdin: "ollama\n"}, out: []string{"http://127.0.0.1:11434/v1", "1 (…????)"}},
		{desc: "azure without base URL: the API's reason", args: []string{"provider", "create", "--name", "az", "--type", "azure-openai",
			"--api-key-file", fileA}, fail: true, errOut: []string{"base_url is required for azure-openai"}, notOut: allKeys},
		{desc: "a bad --deployment", args: []string{"provider", "create", "--name", "az", "--type", "azure-openai", "--deployment", "gpt-4o",
			"--api-key-file", fileA}, fail: true, errOut: []string{"write model=deployment"}},
		{desc: "provider list", args: []string{"provider", "list"}, out: []string{"NAME", "KEYS", "openai", "2 (…ailA, …ailB)", "anthropic", "(default)"},
			notOut: allKeys},
		{desc: "provider get -o json: no key", args: []string{"provider", "get", "openai", "-o", "json"}, out: []string{`"key_count": 2`, `"last4": "ailA"`},
			notOut: append([]string{"api_keys", "gs1:"}, allKeys...)},
		{desc: "update replaces the keys", args: []string{"provider", "update", "openai", "--api-key-file", fileB},
			out: []string{"Provider openai updated.", "1 (…ailB)"}, notOut: allKeys},
		{desc: "update with nothing to change", args: []string{"provider", "update", "openai"}, fail: true, errOut: []string{"nothing to change"}},

		// Models.
		{desc: "a model with exact prices", args: []string{"model", "create", "--name", "mini", "--target", "openai:gpt-4o-mini",
			"--price-input", "0.15", "--price-cached", "0.075", "--price-output", "0.60"},
			out: []string{`Added model mini; clients send "model": "mini".`, "input 0.15, cached input 0.075, output 0.6", "Price from:", "given"}},
		{desc: "a model with the shipped default price, fallback order shown", args: []string{"model", "create", "--name", "chat",
			"--target", "anthropic:claude-3-5-haiku-20241022", "--target", "openai:gpt-4o-mini"},
			out: []string{"anthropic:claude-3-5-haiku-20241022 → openai:gpt-4o-mini", "input 0.8, cached input 0.08, output 4", "Cache write /1M:",
				"defaults ", "verify against the provider's prices"}},
		{desc: "a model name with a colon in the target model", args: []string{"model", "create", "--name", "local", "--target", "ollama:llama3:8b",
			"--price-input", "0", "--price-output", "0"}, out: []string{"ollama:llama3:8b", "input 0, cached input 0, output 0"}},
		{desc: "input price without output", args: []string{"model", "create", "--name", "x", "--target", "openai:x", "--price-input", "1"}, fail: true,
			errOut: []string{"give --price-input and --price-output together"}},
		{desc: "seven decimals: the API's reason", args: []string{"model", "create", "--name", "x", "--target", "openai:x", "--price-input", "0.0000001",
			"--price-output", "1"}, fail: true, errOut: []string{"more than 6 decimal places"}},
		{desc: "a target without a colon", args: []string{"model", "create", "--name", "x", "--target", "gpt-4o"}, fail: true,
			errOut: []string{"write provider:model"}},
		{desc: "no price known", args: []string{"model", "create", "--name", "x", "--target", "ollama:qwen2.5"}, fail: true,
			errOut: []string{"price is required"}},
		{desc: "model list", args: []string{"model", "list"}, out: []string{"INPUT/1M", "mini", "0.15", "0.075", "chat", "defaults "}},
		{desc: "model get -o json prices are decimal strings", args: []string{"model", "get", "mini", "-o", "json"},
			out: []string{`"input_per_1m": "0.15"`, `"cached_input_per_1m": "0.075"`, `"output_per_1m": "0.6"`}},
		{desc: "a provider in use cannot be deleted", args: []string{"provider", "delete", "ollama"}, fail: true, errOut: []string{"local"}},

		// Allowed models.
		{desc: "access get: unrestricted", args: []string{"model", "access", "get", "acme/shop"}, out: []string{"every model (no restriction)"}},
		{desc: "access set", args: []string{"model", "access", "set", "acme/shop", "--model", "mini", "--model", "claude*"},
			out: []string{"Consumer acme/shop may now use only: mini,claude*."}},
		{desc: "access set of an unknown model", args: []string{"model", "access", "set", "acme/shop", "--model", "gpt-9"}, fail: true,
			errOut: []string{`"gpt-9" is not a model of the catalogue`}},
		{desc: "access list", args: []string{"model", "access", "list", "--tenant", "acme"}, out: []string{"CONSUMER", "mini,claude*"}},
		{desc: "access clear", args: []string{"model", "access", "clear", "acme/shop"}, out: []string{"may now use every model"}},

		// Budgets.
		{desc: "a consumer's monthly budget", args: []string{"budget", "create", "--scope", "consumer", "--scope-id", "acme/shop", "--amount", "25.00",
			"--period", "month", "--rpm", "60"}, out: []string{"Budget bdg_", "Amount:", "25 per month (UTC)", "RPM:", "60"}},
		{desc: "a tenant's rate budget", args: []string{"budget", "create", "--scope", "tenant", "--scope-id", "acme", "--tpm", "100000"},
			out: []string{"TPM:", "100000"}},
		{desc: "amount without period: the API's reason", args: []string{"budget", "create", "--scope", "consumer", "--scope-id", "acme/shop",
			"--amount", "1"}, fail: true, errOut: []string{"period is required with amount"}},
		{desc: "budget list of a consumer", args: []string{"budget", "list", "--consumer", "acme/shop"}, out: []string{"SCOPE", "consumer", "25", "month", "60"},
			notOut: []string{"100000"}},

		// Prompts and a prompt route.
		{desc: "a prompt from a template file with typed variables", args: []string{"prompt", "create", "--tenant", "acme", "--name", "summarise",
			"--model", "mini", "--template-file", tpl, "--var", "text", "--var", "words:integer"},
			out: []string{"Created prompt summarise", "--type prompt --prompt prm_", "Variables:", "text:string,words:integer", "Summarise in {{words}} words"}},
		{desc: "an undeclared placeholder: the API's reason", args: []string{"prompt", "create", "--tenant", "acme", "--name", "p2", "--model", "mini",
			"--template-file", tpl, "--var", "text"}, fail: true, errOut: []string{"{{words}}, which variables does not declare"}},
		{desc: "a template from stdin", args: []string{"prompt", "create", "--tenant", "acme", "--name", "hello", "--model", "chat", "--template-file", "-",
			"--var", "who"}, inv: invocation{stdin: "Say hello to {{who}}."}, out: []string{"Say hello to {{who}}."}},
		{desc: "prompt list", args: []string{"prompt", "list", "--tenant", "acme"}, out: []string{"summarise", "hello", "who:string"}},
		{desc: "prompt get by tenant-slug/name", args: []string{"prompt", "get", "acme/summarise"}, out: []string{"Model:", "mini"}},
		{desc: "a prompt route", args: []string{"route", "create", "--service", "acme-ai", "--path", "/summarise", "--type", "prompt", "--prompt", "summarise"},
			out: []string{"Type:", "prompt", "Prompt:", "prm_"}},
		{desc: "a prompt route without a prompt", args: []string{"route", "create", "--service", "acme-ai", "--path", "/x", "--type", "prompt"}, fail: true,
			errOut: []string{"prompt is required for a route of type"}},
		{desc: "an AI route", args: []string{"route", "create", "--service", "acme-ai", "--path", "/ai", "--type", "ai"}, out: []string{"Type:", "ai"}},
		{desc: "a served prompt cannot be deleted", args: []string{"prompt", "delete", "acme/summarise"}, fail: true, errOut: []string{"route"}},
		{desc: "prompt delete", args: []string{"prompt", "delete", "acme/hello"}, out: []string{"Prompt acme/hello deleted."}},
	})

	t.Run("the keys are nowhere in the database files", func(t *testing.T) {
		files, _ := filepath.Glob(filepath.Join(filepath.Dir(e.store.Path()), "*"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for i, k := range allKeys {
				if strings.Contains(string(b), k) {
					t.Errorf("key %d is in %s in the clear", i, filepath.Base(f))
				}
			}
		}
	})
}
