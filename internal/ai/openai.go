package ai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"gatehouse/internal/ai/sse"
)

// openaiAdapter speaks to OpenAI, every OpenAI-compatible server (Ollama,
// vLLM, Mistral, Groq, DeepSeek…) and Azure OpenAI. The client's JSON goes
// through as sent, with two changes: model becomes the target's model, and
// a streamed call asks for stream_options.include_usage so the provider
// reports usage (the extra usage chunk is removed again when the client did
// not ask for it).
type openaiAdapter struct{ azure bool }

func (a openaiAdapter) url(p *Provider, model, op string) string {
	base := strings.TrimRight(p.BaseURL, "/")
	if !a.azure {
		if base == "" {
			base = DefaultOpenAIBaseURL
		}
		return base + "/" + op
	}
	dep := model
	if d, ok := p.Deployment[model]; ok && d != "" {
		dep = d
	}
	ver := p.APIVersion
	if ver == "" {
		ver = DefaultAzureAPIVersion
	}
	return base + "/openai/deployments/" + url.PathEscape(dep) + "/" + op + "?api-version=" + url.QueryEscape(ver)
}

func (a openaiAdapter) auth(req *http.Request, key string) {
	if a.azure {
		req.Header["Api-Key"] = []string{key}
		return
	}
	req.Header["Authorization"] = []string{"Bearer " + key}
}

func (a openaiAdapter) chatRequest(ctx context.Context, p *Provider, model, key string, c *chatCall) (*http.Request, error) {
	m := make(map[string]json.RawMessage, len(c.raw)+1)
	for k, v := range c.raw {
		m[k] = v
	}
	m["model"], _ = json.Marshal(model)
	if c.req.Stream {
		so := map[string]json.RawMessage{}
		if raw, ok := c.raw["stream_options"]; ok {
			_ = json.Unmarshal(raw, &so) // a non-object is replaced
		}
		so["include_usage"] = json.RawMessage("true")
		m["stream_options"], _ = json.Marshal(so)
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	req, err := newJSONRequest(ctx, a.url(p, model, "chat/completions"), body, c.req.Stream)
	if err != nil {
		return nil, err
	}
	a.auth(req, key)
	return req, nil
}

// openaiResponse is the part of a chat.completion the gateway checks.
type openaiResponse struct {
	Choices *[]struct {
		Message struct {
			Content          *string    `json:"content"`
			ReasoningContent string     `json:"reasoning_content"`
			Refusal          *string    `json:"refusal"`
			ToolCalls        []toolCall `json:"tool_calls"`
		} `json:"message"`
	} `json:"choices"`
	Usage *usageJSON     `json:"usage"`
	Error *openaiErrBody `json:"error"`
}

type openaiErrBody struct {
	Message string          `json:"message"`
	Type    string          `json:"type"`
	Param   *string         `json:"param"`
	Code    json.RawMessage `json:"code"`
}

func (a openaiAdapter) chatResult(body []byte, c *chatCall) (outcome, error) {
	var r openaiResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return outcome{}, errors.New("provider answered 200 with a body that is not a chat completion")
	}
	if r.Error != nil {
		return outcome{}, &streamError{status: http.StatusBadGateway, perr: r.Error.info()}
	}
	if r.Choices == nil {
		return outcome{}, errors.New("provider answered 200 without choices")
	}
	o := outcome{body: body}
	for _, ch := range *r.Choices {
		if ch.Message.Content != nil {
			o.runes += runes(*ch.Message.Content)
		}
		o.runes += runes(ch.Message.ReasoningContent)
		for _, tc := range ch.Message.ToolCalls {
			o.runes += runes(tc.Function.Name) + runes(tc.Function.Arguments)
		}
	}
	if r.Usage != nil {
		u := r.Usage.usage()
		o.usage = &u
	}
	return o, nil
}

func (e *openaiErrBody) info() providerError {
	pe := providerError{Message: e.Message, Type: e.Type}
	if e.Param != nil {
		pe.Param = *e.Param
	}
	if pe.Type == "" && len(e.Code) > 0 {
		var s string
		if json.Unmarshal(e.Code, &s) == nil {
			pe.Type = s
		}
	}
	return pe
}

func (a openaiAdapter) errorInfo(body []byte) providerError {
	var r struct {
		Error *openaiErrBody `json:"error"`
	}
	if json.Unmarshal(body, &r) == nil && r.Error != nil {
		return r.Error.info()
	}
	return providerError{Message: snippet(body)}
}

func (a openaiAdapter) stream(c *chatCall) translator {
	return &openaiStream{st: streamState{includeUsage: c.includeUsage}}
}

// openaiStream passes OpenAI chunks through byte for byte, reading each to
// track usage (the last reported, never a sum: some servers repeat a
// cumulative usage in every chunk) and produced text, and dropping the
// forced usage chunk the client did not ask for. Chunks carrying cumulative
// usage next to content are the one exception: they are rewritten to
// OpenAI's own semantics (see event).
type openaiStream struct {
	st           streamState
	sawFinish    bool
	sawContent   bool
	pendingUsage bool // usage seen on content chunks only, no usage chunk yet
}

func (s *openaiStream) state() *streamState { return &s.st }

type openaiChunk struct {
	ID      string `json:"id"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Delta struct {
			Content          string `json:"content"`
			ReasoningContent string `json:"reasoning_content"`
			Refusal          string `json:"refusal"`
			ToolCalls        []struct {
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *usageJSON     `json:"usage"`
	Error *openaiErrBody `json:"error"`
}

func (s *openaiStream) event(ev sse.Event, out []byte) ([]byte, error) {
	if string(ev.Data) == "[DONE]" {
		if !s.sawFinish && !s.sawContent {
			return out, &streamError{status: http.StatusBadGateway, perr: providerError{Message: "stream ended with [DONE] before any choice", Type: "incomplete_stream"}}
		}
		return s.finish(out), nil
	}
	var ch openaiChunk
	if err := json.Unmarshal(ev.Data, &ch); err != nil {
		return out, &streamError{status: http.StatusBadGateway, perr: providerError{Message: "stream frame is not JSON", Type: "malformed_stream"}}
	}
	if ch.Error != nil {
		return out, &streamError{status: statusOfType(ch.Error.Type), perr: ch.Error.info()}
	}
	if ch.ID != "" {
		s.st.id, s.st.model, s.st.created = ch.ID, ch.Model, ch.Created
	}
	for i := range ch.Choices {
		d := &ch.Choices[i].Delta
		s.st.produced(d.Content)
		s.st.produced(d.ReasoningContent)
		s.st.produced(d.Refusal)
		for _, tc := range d.ToolCalls {
			s.st.produced(tc.Function.Name)
			s.st.produced(tc.Function.Arguments)
		}
		if ch.Choices[i].FinishReason != nil {
			s.sawFinish = true
		}
		s.sawContent = true
	}
	data := ev.Data
	if ch.Usage != nil {
		s.st.usage = ch.Usage.usage()
		s.st.promptKnown, s.st.completionKnown = true, true
		if len(ch.Choices) == 0 {
			s.pendingUsage = false
			if !s.st.includeUsage {
				return out, nil // the usage chunk we forced: not for this client
			}
		} else {
			// Cumulative usage on a content chunk (DeepSeek, Gemini's
			// OpenAI endpoint): SDK accumulators add every usage they
			// see, so the client gets OpenAI's semantics instead —
			// usage null here, one usage chunk at the end if it asked.
			data = withoutUsage(ev.Data, s.st.includeUsage)
			s.pendingUsage = true
		}
	} else if !s.st.includeUsage && bytes.Contains(ev.Data, []byte(`"usage"`)) {
		// The "usage": null every chunk carries because the gateway asked
		// for usage: a client that did not gets chunks without it, as
		// OpenAI sends them.
		data = withoutUsage(ev.Data, false)
	}
	out = append(out, "data: "...)
	out = append(out, data...)
	return append(out, "\n\n"...), nil
}

// withoutUsage rewrites a chunk with "usage": null (or without it when
// the client did not ask for usage).
func withoutUsage(data []byte, keepNull bool) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return data
	}
	if keepNull {
		m["usage"] = json.RawMessage("null")
	} else {
		delete(m, "usage")
	}
	b, err := json.Marshal(m)
	if err != nil {
		return data
	}
	return b
}

// finish closes the stream: the usage chunk the provider never sent as
// one (it only had cumulative usage on content chunks), then [DONE].
func (s *openaiStream) finish(out []byte) []byte {
	if s.pendingUsage && s.st.includeUsage {
		return s.st.closing(out)
	}
	s.st.done = true
	return append(out, "data: [DONE]\n\n"...)
}

func (s *openaiStream) end(out []byte) ([]byte, error) {
	if s.st.done {
		return out, nil
	}
	if s.sawFinish {
		// Some compatible servers end the body without [DONE].
		return s.finish(out), nil
	}
	return out, &streamError{status: http.StatusBadGateway, perr: providerError{Message: "stream ended before a finish_reason", Type: "incomplete_stream"}}
}

// statusOfType maps provider error types seen in streams to the HTTP
// status they stand for, to decide whether another target may be tried.
func statusOfType(t string) int {
	switch t {
	case "rate_limit_error", "rate_limit_exceeded", "RESOURCE_EXHAUSTED", "insufficient_quota":
		return http.StatusTooManyRequests
	case "overloaded_error":
		return 529
	case "invalid_request_error", "INVALID_ARGUMENT":
		return http.StatusBadRequest
	case "authentication_error", "UNAUTHENTICATED":
		return http.StatusUnauthorized
	case "permission_error", "PERMISSION_DENIED":
		return http.StatusForbidden
	case "UNAVAILABLE":
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func (a openaiAdapter) embeddingsRequest(ctx context.Context, p *Provider, model, key string, e *embeddingsCall) (*http.Request, error) {
	m := make(map[string]json.RawMessage, len(e.raw))
	for k, v := range e.raw {
		m[k] = v
	}
	m["model"], _ = json.Marshal(model)
	body, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	req, err := newJSONRequest(ctx, a.url(p, model, "embeddings"), body, false)
	if err != nil {
		return nil, err
	}
	a.auth(req, key)
	return req, nil
}

func (a openaiAdapter) embeddingsResult(body []byte, e *embeddingsCall) (outcome, error) {
	var r struct {
		Data  *[]json.RawMessage `json:"data"`
		Usage *usageJSON         `json:"usage"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Data == nil {
		return outcome{}, errors.New("provider answered 200 with a body that is not an embeddings list")
	}
	o := outcome{body: body}
	if r.Usage != nil {
		u := r.Usage.usage()
		o.usage = &u
	}
	return o, nil
}

func runes(s string) int64 {
	n := int64(0)
	for range s {
		n++
	}
	return n
}

// snippet is the start of a non-JSON error body (redacted later).
func snippet(b []byte) string {
	const max = 300
	s := strings.TrimSpace(string(b))
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}
