package ai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"unicode/utf8"

	"gatehouse/internal/ai/sse"
)

// adapter speaks one provider type's wire format. Adapters are stateless;
// per-call state lives in chatCall and the stream translator.
type adapter interface {
	// chatRequest builds the upstream request for one attempt; key goes
	// into the provider's auth header and nowhere else.
	chatRequest(ctx context.Context, p *Provider, model, key string, c *chatCall) (*http.Request, error)
	// chatResult translates a 200 body into an OpenAI chat.completion.
	// An error means the body was not a valid answer (a broken 200 is a
	// provider failure, never an empty 200 to the client).
	chatResult(body []byte, c *chatCall) (outcome, error)
	// stream returns the translator of one streamed answer.
	stream(c *chatCall) translator
	// embeddingsRequest builds an embeddings request, or returns
	// errNoEmbeddings for a type that has none.
	embeddingsRequest(ctx context.Context, p *Provider, model, key string, e *embeddingsCall) (*http.Request, error)
	embeddingsResult(body []byte, e *embeddingsCall) (outcome, error)
	// errorInfo reads the provider's error body.
	errorInfo(body []byte) providerError
}

var errNoEmbeddings = errors.New("provider type serves no embeddings")

// chatCall is one client chat request, parsed once and translated per
// attempt.
type chatCall struct {
	req *chatRequest
	// raw is the client's JSON object, sent on to OpenAI-type providers
	// with only model and stream_options changed.
	raw          map[string]json.RawMessage
	includeUsage bool // the client asked for the usage chunk
	created      int64
	newID        func(prefix string) string
	maxOutput    int64 // the model's default max_tokens
	// model is the target's model name for the attempt in progress: the
	// answer's model when the provider names none (Gemini may omit
	// modelVersion).
	model string
}

type embeddingsCall struct {
	req     *embeddingsRequest
	raw     map[string]json.RawMessage
	created int64
}

// outcome is a translated non-streamed answer.
type outcome struct {
	body  []byte
	usage *Usage // nil: the provider reported none
	runes int64  // characters produced, for an estimate
}

// providerError is what a provider said went wrong (message not yet
// redacted).
type providerError struct {
	Message string
	Type    string
	Param   string
}

// translator turns one upstream SSE stream into OpenAI chunks.
type translator interface {
	// event handles one upstream event, appending client frames to out.
	// A provider error event is returned as *streamError.
	event(ev sse.Event, out []byte) ([]byte, error)
	// end is called at a clean upstream EOF; it appends the closing frames
	// (usage chunk if asked, [DONE]) or reports a stream that ended early.
	end(out []byte) ([]byte, error)
	state() *streamState
}

// streamState is what every translator tracks: the usage reported so far
// and how much was produced, so a stream that ends early (client gone,
// provider failure) still settles what was consumed.
type streamState struct {
	id           string
	model        string
	created      int64
	includeUsage bool

	usage           Usage
	promptKnown     bool // the provider reported the prompt count
	completionKnown bool // … and a completion count covering the stream so far
	runes           int64
	done            bool
}

func (s *streamState) produced(text string) { s.runes += int64(utf8.RuneCountInString(text)) }

// streamError is an error event inside a stream (Anthropic `event: error`,
// an OpenAI or Gemini `{"error":…}` frame) or a stream that broke its own
// rules.
type streamError struct {
	status int // the HTTP status the error corresponds to (for retry)
	perr   providerError
}

func (e *streamError) Error() string {
	return fmt.Sprintf("provider stream error %d %s: %s", e.status, e.perr.Type, e.perr.Message)
}

// appendChunk appends one `data: {chunk}` frame.
func appendChunk(out []byte, c *chatChunk) []byte {
	b, _ := json.Marshal(c) // plain structs of strings and numbers: cannot fail
	out = append(out, "data: "...)
	out = append(out, b...)
	return append(out, "\n\n"...)
}

// closing appends the usage chunk (when the client asked) and [DONE].
func (s *streamState) closing(out []byte) []byte {
	if s.includeUsage {
		out = appendChunk(out, &chatChunk{ID: s.id, Object: "chat.completion.chunk", Created: s.created,
			Model: s.model, Choices: []chunkChoice{}, Usage: toUsageJSON(s.usage)})
	}
	s.done = true
	return append(out, "data: [DONE]\n\n"...)
}

func (s *streamState) chunk(choices ...chunkChoice) *chatChunk {
	return &chatChunk{ID: s.id, Object: "chat.completion.chunk", Created: s.created, Model: s.model, Choices: choices}
}

func strp(s string) *string { return &s }

func adapterFor(typ string) adapter {
	switch typ {
	case TypeAnthropic:
		return anthropicAdapter{}
	case TypeGemini:
		return geminiAdapter{}
	case TypeAzure:
		return openaiAdapter{azure: true}
	}
	return openaiAdapter{}
}

// newJSONRequest builds a POST with a JSON body and no credentials.
func newJSONRequest(ctx context.Context, url string, body []byte, stream bool) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build upstream request: %w", err)
	}
	req.ContentLength = int64(len(body))
	req.Header["Content-Type"] = []string{"application/json"}
	if stream {
		req.Header["Accept"] = []string{"text/event-stream"}
	} else {
		req.Header["Accept"] = []string{"application/json"}
	}
	req.Header["User-Agent"] = []string{"gatehouse"}
	return req, nil
}
