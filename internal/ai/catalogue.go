package ai

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"time"
)

// Provider types.
const (
	TypeOpenAI    = "openai" // OpenAI and every OpenAI-compatible server
	TypeAnthropic = "anthropic"
	TypeGemini    = "gemini"
	TypeAzure     = "azure-openai"
)

// Default base URLs, used when Provider.BaseURL is empty. OpenAI's includes
// the /v1 version segment because OpenAI-compatible servers put theirs in
// different places (Ollama http://host:11434/v1, Groq
// https://api.groq.com/openai/v1); Anthropic and Gemini paths are fixed and
// appended by the adapter, as their SDKs do.
const (
	DefaultOpenAIBaseURL    = "https://api.openai.com/v1"
	DefaultAnthropicBaseURL = "https://api.anthropic.com"
	DefaultGeminiBaseURL    = "https://generativelanguage.googleapis.com"
	// DefaultAzureAPIVersion is the GA version that supports
	// stream_options.include_usage.
	DefaultAzureAPIVersion  = "2024-10-21"
	DefaultAnthropicVersion = "2023-06-01"
)

// Provider is one configured AI provider account. The integrator fills it
// from the store (keys decrypted); the handler never copies a key anywhere
// but into the one request header the provider expects.
type Provider struct {
	Name    string
	Type    string // TypeOpenAI, TypeAnthropic, TypeGemini, TypeAzure
	BaseURL string // empty: the type's default (Azure has none: required)
	// APIKeys are the decrypted credentials; several are balanced round
	// robin, one per attempt.
	APIKeys []string
	// APIVersion is Azure's api-version query value (default
	// DefaultAzureAPIVersion) or Anthropic's anthropic-version header
	// (default DefaultAnthropicVersion).
	APIVersion string
	// Deployment maps a target model to an Azure deployment name; a model
	// without an entry is its own deployment name.
	Deployment map[string]string

	next atomic.Uint64 // round-robin position over APIKeys
}

// key returns the next key and its index (the index, never the key, is
// what a Result records).
func (p *Provider) key() (string, int) {
	if len(p.APIKeys) == 0 {
		return "", -1
	}
	i := int((p.next.Add(1) - 1) % uint64(len(p.APIKeys)))
	return p.APIKeys[i], i
}

// Target is one place a model alias can be served: a provider and the
// provider's own model name.
type Target struct {
	Provider *Provider
	Model    string
}

// Model is a catalogue entry: the name consumers send, the ordered targets
// tried in turn (fallback on 429, 5xx and timeouts before the first byte
// reached the client) and the price.
type Model struct {
	Name    string
	Targets []Target
	Price   Price
	// Created is reported by GET /v1/models (zero: 0).
	Created time.Time
	// MaxOutputTokens is what a reservation assumes when the request sets
	// no max_tokens, and the max_tokens sent to Anthropic (which requires
	// one) in that case; zero means DefaultMaxOutputTokens.
	MaxOutputTokens int64
}

// DefaultMaxOutputTokens is Model.MaxOutputTokens when unset (one-api's
// Anthropic default).
const DefaultMaxOutputTokens = 4096

func (m *Model) maxOutput() int64 {
	if m.MaxOutputTokens > 0 {
		return m.MaxOutputTokens
	}
	return DefaultMaxOutputTokens
}

// Catalogue is what the handler reads on every call. The integrator's
// snapshot implements it (rebuilt and swapped on admin changes, never
// mutated in place); MemCatalogue is the plain in-memory one.
type Catalogue interface {
	Model(name string) (*Model, bool)
	// Models lists every model (GET /v1/models filters by the caller's
	// allowed models).
	Models() []*Model
}

// MemCatalogue is an immutable in-memory catalogue.
type MemCatalogue struct {
	byName map[string]*Model
	list   []*Model
}

// NewCatalogue validates the models and returns a catalogue over them:
// unique non-empty names, at least one target each, known provider types,
// a key per provider and a base URL for Azure.
func NewCatalogue(models ...*Model) (*MemCatalogue, error) {
	c := &MemCatalogue{byName: make(map[string]*Model, len(models))}
	var errs []error
	for i, m := range models {
		if m == nil || m.Name == "" {
			errs = append(errs, fmt.Errorf("models[%d]: name is required", i))
			continue
		}
		if _, dup := c.byName[m.Name]; dup {
			errs = append(errs, fmt.Errorf("models[%d]: duplicate name %q", i, m.Name))
			continue
		}
		if len(m.Targets) == 0 {
			errs = append(errs, fmt.Errorf("model %q: at least one target is required", m.Name))
		}
		for j, t := range m.Targets {
			if err := validTarget(t); err != nil {
				errs = append(errs, fmt.Errorf("model %q: targets[%d]: %w", m.Name, j, err))
			}
		}
		c.byName[m.Name] = m
		c.list = append(c.list, m)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	sort.Slice(c.list, func(i, j int) bool { return c.list[i].Name < c.list[j].Name })
	return c, nil
}

func validTarget(t Target) error {
	p := t.Provider
	switch {
	case p == nil:
		return errors.New("provider is required")
	case t.Model == "":
		return errors.New("model is required")
	case len(p.APIKeys) == 0:
		return fmt.Errorf("provider %q: at least one API key is required", p.Name)
	}
	switch p.Type {
	case TypeOpenAI, TypeAnthropic, TypeGemini:
	case TypeAzure:
		if p.BaseURL == "" {
			return fmt.Errorf("provider %q: azure-openai needs base_url (https://<resource>.openai.azure.com)", p.Name)
		}
	default:
		return fmt.Errorf("provider %q: unknown type %q (want openai, anthropic, gemini or azure-openai)", p.Name, p.Type)
	}
	if p.BaseURL != "" && !strings.HasPrefix(p.BaseURL, "http://") && !strings.HasPrefix(p.BaseURL, "https://") {
		return fmt.Errorf("provider %q: base_url must start with http:// or https://", p.Name)
	}
	return nil
}

// Model returns the model of that name.
func (c *MemCatalogue) Model(name string) (*Model, bool) {
	m, ok := c.byName[name]
	return m, ok
}

// Models returns all models sorted by name.
func (c *MemCatalogue) Models() []*Model { return c.list }

// allowed reports whether a model name is in an allow-list: an empty list
// allows every model; an entry ending in "*" allows a prefix ("gpt-4o*").
func allowed(list []string, name string) bool {
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
