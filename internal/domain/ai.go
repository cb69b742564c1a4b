package domain

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// AI gateway entities (§11, issue 8): provider accounts, the model
// catalogue, per-consumer allowed models, budgets and prompt templates.
// They are stored by the admin API and read by the snapshot, which maps
// them onto internal/ai's runtime types (ai.Provider, ai.Model, ai.Price,
// ai.Micros) with keys opened from their sealed form.

// AI provider types (Appendix A, POST /admin/v1/providers).
const (
	ProviderOpenAI    = "openai" // OpenAI and every OpenAI-compatible server
	ProviderAnthropic = "anthropic"
	ProviderGemini    = "gemini"
	ProviderAzure     = "azure-openai"
)

// ProviderTypes lists the provider types in the order messages name them.
func ProviderTypes() []string {
	return []string{ProviderOpenAI, ProviderAnthropic, ProviderGemini, ProviderAzure}
}

// Route types (Appendix A, route field "type"); "" means RouteProxy.
const (
	RouteProxy  = "proxy"
	RouteAI     = "ai"
	RoutePrompt = "prompt"
)

// Micros is money in integer millionths of the currency unit ($1.00 =
// 1_000_000), the same unit as ai.Micros (convert with ai.Micros(m)).
// Money is never a float64: amounts are parsed from decimal text exactly
// and written back as decimal text, so "0.075" stays 0.075 to the micro.
type Micros int64

// MicrosPerUnit is one currency unit in Micros.
const MicrosPerUnit Micros = 1_000_000

// maxMicrosWhole bounds the whole part of an amount so whole×10⁶ plus the
// fraction fits an int64.
const maxMicrosWhole = math.MaxInt64/int64(MicrosPerUnit) - 1

// ParseMicros parses a non-negative plain decimal ("0.15", "2", "0.075",
// "1.250000") exactly. Signs, exponents, more than six decimal places and
// anything else are refused, so an amount is never rounded on the way in.
func ParseMicros(s string) (Micros, error) {
	if s == "" {
		return 0, errors.New("empty amount: write a decimal such as \"0.15\"")
	}
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" || (hasDot && frac == "") {
		return 0, fmt.Errorf("amount %q: write digits on both sides of the point, e.g. \"0.15\"", s)
	}
	if len(frac) > 6 {
		return 0, fmt.Errorf("amount %q has more than 6 decimal places (the unit is a millionth)", s)
	}
	for _, part := range []string{whole, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return 0, fmt.Errorf("amount %q is not a plain non-negative decimal such as \"0.15\"", s)
			}
		}
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil || w > maxMicrosWhole {
		return 0, fmt.Errorf("amount %q is too large", s)
	}
	var f int64
	if frac != "" {
		f, _ = strconv.ParseInt(frac+strings.Repeat("0", 6-len(frac)), 10, 64)
	}
	return Micros(w*int64(MicrosPerUnit) + f), nil
}

// String renders the amount as the shortest plain decimal that parses
// back to it: "0.15", "2", "0.075", "0".
func (m Micros) String() string {
	neg := m < 0
	u := uint64(m)
	if neg {
		u = -u
	}
	s := strconv.FormatUint(u/uint64(MicrosPerUnit), 10)
	if frac := u % uint64(MicrosPerUnit); frac != 0 {
		s += "." + strings.TrimRight(fmt.Sprintf("%06d", frac), "0")
	}
	if neg {
		return "-" + s
	}
	return s
}

// MarshalJSON writes the amount as a JSON string ("0.15"), which every
// client reads exactly; a JSON number would be a float64 in most of them.
func (m Micros) MarshalJSON() ([]byte, error) { return json.Marshal(m.String()) }

// UnmarshalJSON reads a decimal string ("0.15") or a plain JSON number
// literal (0.15), both parsed from their text, never through a float64;
// null leaves the value alone (the encoding/json convention).
func (m *Micros) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	v, err := ParseMicros(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// ProviderKey is one of a provider's API keys. Sealed is the key sealed
// with internal/secrets under the master key: it never leaves the store
// but for the snapshot, which opens it. Last4 is for people telling keys
// apart; it is empty for keys too short to show any of.
type ProviderKey struct {
	Sealed string `json:"-"`
	Last4  string `json:"last4,omitempty"`
}

// KeyLast4 is what a ProviderKey shows of a key: its last four
// characters, only when the key has at least 16 (else nothing).
func KeyLast4(key string) string {
	if len(key) < 16 {
		return ""
	}
	return key[len(key)-4:]
}

// Provider is one AI provider account (§11): where to send requests and
// with which keys. Keys are write-only through the API.
type Provider struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Type string `json:"type"`
	// BaseURL is http(s); empty means the type's public endpoint (an
	// azure-openai provider needs its resource URL).
	BaseURL string `json:"base_url,omitempty"`
	// Keys are balanced round robin, one per attempt.
	Keys []ProviderKey `json:"keys"`
	// APIVersion is azure-openai's api-version query value or
	// anthropic's anthropic-version header ("" = the gateway default).
	APIVersion string `json:"api_version,omitempty"`
	// Deployments maps a target model to an azure-openai deployment name;
	// a model without an entry is its own deployment name.
	Deployments map[string]string `json:"deployments,omitempty"`
	Declared    bool              `json:"declared,omitempty"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
}

// ModelTarget is one place a model alias is served: a provider (by id)
// and the provider's own model name.
type ModelTarget struct {
	ProviderID string `json:"provider"`
	Model      string `json:"model"`
}

// Price is what a model costs per million tokens. It maps field by field
// onto ai.Price (ai.Micros(p.InputPer1M) …).
type Price struct {
	InputPer1M Micros `json:"input_per_1m"`
	// CachedInputPer1M prices prompt tokens read from the provider's
	// cache; it is always set (the admin API fills it with the input
	// price when a request leaves it out).
	CachedInputPer1M Micros `json:"cached_input_per_1m"`
	OutputPer1M      Micros `json:"output_per_1m"`
	// CacheWritePer1M prices Anthropic cache writes; 0 means the input
	// price (as in ai.Price).
	CacheWritePer1M Micros `json:"cache_write_per_1m,omitempty"`
	// Source says where a price not given explicitly came from:
	// "defaults <date>" (the shipped table, DefaultPrice) or "config"
	// (the gateway's configured prices). Empty: given by the admin.
	Source string `json:"source,omitempty"`
}

// Model is a catalogue entry (§11): the alias clients send as "model",
// its ordered targets (fallback order) and its price.
type Model struct {
	ID      string        `json:"id"`
	Name    string        `json:"name"`
	Targets []ModelTarget `json:"targets"`
	Price   Price         `json:"price"`
	// MaxOutputTokens is what a budget reservation assumes when a request
	// sets no max_tokens (0: the AI handler's default).
	MaxOutputTokens int64     `json:"max_output_tokens,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// AIAccess restricts one consumer to some models (ai.model_not_allowed
// otherwise). A consumer without one may use every model. Entries are
// model names or prefixes ending in "*" ("gpt-4o*"), the semantics of
// ai.CallContext.AllowedModels; the list is never empty.
type AIAccess struct {
	ConsumerID string    `json:"consumer"`
	Models     []string  `json:"models"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// ModelAllowed reports whether name matches an allow-list entry: the
// name itself, "*", or a prefix ending in "*". An empty list allows all.
func ModelAllowed(list []string, name string) bool {
	if len(list) == 0 {
		return true
	}
	for _, a := range list {
		if a == name || a == "*" {
			return true
		}
		if p, ok := strings.CutSuffix(a, "*"); ok && strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// Budget scopes: what a budget counts.
const (
	BudgetScopeConsumer   = "consumer"
	BudgetScopeCredential = "credential" // an API key or another credential
	BudgetScopeTenant     = "tenant"
)

// Budget periods: money is counted per UTC calendar day or month.
const (
	BudgetPeriodDay   = "day"
	BudgetPeriodMonth = "month"
)

// Budget limits the AI spending and rate of one consumer, credential or
// tenant (§11). Every set limit applies; zero means no such limit.
type Budget struct {
	ID string `json:"id"`
	// TenantID is the tenant of the scoped object (copied at creation),
	// so tenant admins see their own.
	TenantID string `json:"tenant"`
	Scope    string `json:"scope"`
	ScopeID  string `json:"scope_id"`
	// Amount is the money allowed per Period (0: no money limit).
	Amount Micros `json:"amount,omitempty"`
	Period string `json:"period,omitempty"`
	// RPM and TPM limit requests and tokens (prompt + completion) per
	// minute.
	RPM       int64     `json:"rpm,omitempty"`
	TPM       int64     `json:"tpm,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Window returns the money period containing t: the UTC calendar day or
// month, [start, end). The end is the reset time budget.exceeded names.
func (b Budget) Window(t time.Time) (start, end time.Time) {
	t = t.UTC()
	if b.Period == BudgetPeriodMonth {
		start = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 1, 0)
	}
	start = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	return start, start.AddDate(0, 0, 1)
}

// Prompt variable types.
const (
	VarString  = "string"
	VarNumber  = "number"
	VarInteger = "integer"
	VarBoolean = "boolean"
)

// PromptVariable is one declared variable of a prompt template.
type PromptVariable struct {
	Name string `json:"name"`
	// Type is string (the default), number, integer or boolean.
	Type string `json:"type"`
}

// UnmarshalJSON accepts {"name":"x","type":"number"}, or a bare "x" for a
// string variable.
func (v *PromptVariable) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var name string
		if err := json.Unmarshal(b, &name); err != nil {
			return err
		}
		*v = PromptVariable{Name: name, Type: VarString}
		return nil
	}
	type plain PromptVariable
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*v = PromptVariable(p)
	return nil
}

// Prompt is a prompt endpoint's template (§11): a route of type "prompt"
// binds one; a POST with the variables as a JSON object renders the
// template into the user message sent to Model (an alias of the
// catalogue) and answers the model's output.
//
// Template syntax is deliberately small: {{name}} (spaces inside the
// braces allowed) inserts a variable, \{{ writes a literal "{{", and
// nothing else is special. Every placeholder must be a declared variable
// and every declared variable must appear, so a template is checked
// completely when it is saved. Go's text/template was not used: it is a
// language (calls, loops, "<no value>" for a missing key) whose mistakes
// show only when it runs.
type Prompt struct {
	ID string `json:"id"`
	// TenantID owns the prompt: only its tenant's routes bind it.
	TenantID  string           `json:"tenant"`
	Name      string           `json:"name"`
	Template  string           `json:"template"`
	Variables []PromptVariable `json:"variables"`
	Model     string           `json:"model"`
	CreatedAt time.Time        `json:"created_at"`
	UpdatedAt time.Time        `json:"updated_at"`
}

var promptVarRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// ValidVariableName reports whether s can name a prompt variable:
// a letter or '_', then up to 63 letters, digits or '_'.
func ValidVariableName(s string) bool { return promptVarRE.MatchString(s) }

// templatePart is a literal (name "") or a placeholder.
type templatePart struct {
	lit, name string
}

// parseTemplate splits a template into literals and placeholders.
func parseTemplate(tpl string) ([]templatePart, error) {
	var parts []templatePart
	var lit strings.Builder
	for i := 0; i < len(tpl); {
		switch {
		case strings.HasPrefix(tpl[i:], `\{{`):
			lit.WriteString("{{")
			i += 3
		case strings.HasPrefix(tpl[i:], "{{"):
			end := strings.Index(tpl[i+2:], "}}")
			if end < 0 {
				return nil, fmt.Errorf("template: \"{{\" at byte %d is never closed by \"}}\" (write \\{{ for a literal \"{{\")", i)
			}
			name := strings.TrimSpace(tpl[i+2 : i+2+end])
			if !ValidVariableName(name) {
				return nil, fmt.Errorf("template: {{%s}} at byte %d is not a variable name (letters, digits and '_', not starting with a digit; write \\{{ for a literal \"{{\")",
					tpl[i+2:i+2+end], i)
			}
			if lit.Len() > 0 {
				parts = append(parts, templatePart{lit: lit.String()})
				lit.Reset()
			}
			parts = append(parts, templatePart{name: name})
			i += 2 + end + 2
		default:
			lit.WriteByte(tpl[i])
			i++
		}
	}
	if lit.Len() > 0 {
		parts = append(parts, templatePart{lit: lit.String()})
	}
	return parts, nil
}

// TemplateVariables returns the distinct variable names a template uses,
// in order of first use, or the syntax error naming where it is.
func TemplateVariables(tpl string) ([]string, error) {
	parts, err := parseTemplate(tpl)
	if err != nil {
		return nil, err
	}
	var names []string
	seen := map[string]bool{}
	for _, p := range parts {
		if p.name != "" && !seen[p.name] {
			seen[p.name] = true
			names = append(names, p.name)
		}
	}
	return names, nil
}

// VariableError is a prompt call's variable problem: missing, of the
// wrong type, or not declared. The AI call path answers it as a 400
// (ai.bad_request) with Name as the parameter.
type VariableError struct {
	Name   string
	Reason string
}

func (e *VariableError) Error() string { return fmt.Sprintf("variable %q %s", e.Name, e.Reason) }

// Render fills the template with vars (a JSON object decoded with
// json.Decoder.UseNumber, so numbers keep their exact text). Every
// declared variable must be present with its declared type, and no other
// may be given; the first problem, in declaration order (then name order
// for unknown ones), is returned as a *VariableError. Strings are inserted
// as they are, numbers as their JSON text, booleans as true or false.
func (p Prompt) Render(vars map[string]any) (string, error) {
	values := make(map[string]string, len(p.Variables))
	for _, v := range p.Variables {
		raw, ok := vars[v.Name]
		if !ok || raw == nil {
			return "", &VariableError{Name: v.Name, Reason: "is missing: the prompt declares it as " + varType(v.Type)}
		}
		s, err := renderValue(v, raw)
		if err != nil {
			return "", err
		}
		values[v.Name] = s
	}
	var unknown []string
	for name := range vars {
		if _, ok := values[name]; !ok {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return "", &VariableError{Name: unknown[0], Reason: "is not a variable of this prompt (it declares " + declared(p.Variables) + ")"}
	}
	parts, err := parseTemplate(p.Template)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, part := range parts {
		if part.name == "" {
			b.WriteString(part.lit)
			continue
		}
		b.WriteString(values[part.name])
	}
	return b.String(), nil
}

func varType(t string) string {
	if t == "" {
		return VarString
	}
	return t
}

func declared(vs []PromptVariable) string {
	if len(vs) == 0 {
		return "none"
	}
	names := make([]string, len(vs))
	for i, v := range vs {
		names[i] = v.Name
	}
	return strings.Join(names, ", ")
}

// renderValue checks raw against the variable's type and renders it.
func renderValue(v PromptVariable, raw any) (string, error) {
	typ := varType(v.Type)
	wrong := func() error {
		article := "a"
		if typ == VarInteger {
			article = "an"
		}
		return &VariableError{Name: v.Name, Reason: fmt.Sprintf("must be %s %s, got %s", article, typ, jsonKind(raw))}
	}
	switch typ {
	case VarString:
		if s, ok := raw.(string); ok {
			return s, nil
		}
		return "", wrong()
	case VarBoolean:
		if b, ok := raw.(bool); ok {
			return strconv.FormatBool(b), nil
		}
		return "", wrong()
	case VarNumber, VarInteger:
		var text string
		switch n := raw.(type) {
		case json.Number:
			text = n.String()
		case float64:
			text = strconv.FormatFloat(n, 'f', -1, 64)
		case int:
			text = strconv.Itoa(n)
		case int64:
			text = strconv.FormatInt(n, 10)
		default:
			return "", wrong()
		}
		if typ == VarInteger {
			if _, err := strconv.ParseInt(text, 10, 64); err != nil {
				return "", &VariableError{Name: v.Name, Reason: fmt.Sprintf("must be an integer, got %s", text)}
			}
		}
		return text, nil
	}
	return "", &VariableError{Name: v.Name, Reason: fmt.Sprintf("has unknown type %q", v.Type)}
}

func jsonKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case json.Number, float64, int, int64:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// DefaultPricesAsOf dates the shipped price table. Providers change
// prices: verify against their price pages, and override in the gateway's
// configuration or give a price when creating the model.
const DefaultPricesAsOf = "2025-06-01"

// defaultPrices is the shipped table, USD per 1M tokens as decimal text
// (input, cached input, output, cache write or "").
func defaultPrices() map[string][4]string {
	return map[string][4]string{
		// OpenAI.
		"gpt-4o":                 {"2.50", "1.25", "10.00", ""},
		"gpt-4o-mini":            {"0.15", "0.075", "0.60", ""},
		"gpt-4.1":                {"2.00", "0.50", "8.00", ""},
		"gpt-4.1-mini":           {"0.40", "0.10", "1.60", ""},
		"gpt-4.1-nano":           {"0.10", "0.025", "0.40", ""},
		"o4-mini":                {"1.10", "0.275", "4.40", ""},
		"text-embedding-3-small": {"0.02", "0.02", "0", ""},
		"text-embedding-3-large": {"0.13", "0.13", "0", ""},
		// Anthropic (cache reads 0.1×, 5-minute cache writes 1.25× input).
		"claude-3-5-haiku": {"0.80", "0.08", "4.00", "1.00"},
		"claude-sonnet-4":  {"3.00", "0.30", "15.00", "3.75"},
		"claude-opus-4":    {"15.00", "1.50", "75.00", "18.75"},
		// Google (prompts up to 200k tokens for 2.5 Pro).
		"gemini-2.0-flash": {"0.10", "0.025", "0.40", ""},
		"gemini-2.5-flash": {"0.30", "0.075", "2.50", ""},
		"gemini-2.5-pro":   {"1.25", "0.31", "10.00", ""},
	}
}

// datedSuffixRE matches the date providers append to pinned model
// versions: "-20241022", "-2024-07-18", "-latest".
var datedSuffixRE = regexp.MustCompile(`^-(\d{8}|\d{4}-\d{2}-\d{2}|latest)$`)

// DefaultPrice returns the shipped price of a provider model name, as of
// DefaultPricesAsOf, matching the name itself or the name with a version
// date ("claude-3-5-haiku-20241022", "gpt-4o-mini-2024-07-18").
func DefaultPrice(model string) (Price, bool) {
	table := defaultPrices()
	row, ok := table[model]
	if !ok {
		for name, r := range table {
			if rest, found := strings.CutPrefix(model, name); found && datedSuffixRE.MatchString(rest) {
				row, ok = r, true
				break
			}
		}
	}
	if !ok {
		return Price{}, false
	}
	var p Price
	var err error
	for i, dst := range []*Micros{&p.InputPer1M, &p.CachedInputPer1M, &p.OutputPer1M, &p.CacheWritePer1M} {
		if row[i] == "" {
			continue
		}
		if *dst, err = ParseMicros(row[i]); err != nil {
			return Price{}, false // the table is constant and covered by tests
		}
	}
	p.Source = "defaults " + DefaultPricesAsOf
	return p, true
}

// DefaultPriceModels lists the model names of the shipped table, sorted.
func DefaultPriceModels() []string {
	table := defaultPrices()
	names := make([]string, 0, len(table))
	for n := range table {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
