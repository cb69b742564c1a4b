package ai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"gatehouse/internal/reason"

	"gatehouse/internal/ai/sse"
)

// anthropicAdapter translates OpenAI chat completions to the Anthropic
// Messages API and back (ai-wire-formats.md §2.3–2.4), streaming included.
type anthropicAdapter struct{}

type antRequest struct {
	Model         string         `json:"model"`
	MaxTokens     int64          `json:"max_tokens"`
	System        string         `json:"system,omitempty"`
	Messages      []antMessage   `json:"messages"`
	Tools         []antTool      `json:"tools,omitempty"`
	ToolChoice    *antToolChoice `json:"tool_choice,omitempty"`
	Temperature   *float64       `json:"temperature,omitempty"`
	TopP          *float64       `json:"top_p,omitempty"`
	StopSequences []string       `json:"stop_sequences,omitempty"`
	Metadata      *struct {
		UserID string `json:"user_id"`
	} `json:"metadata,omitempty"`
	Stream bool `json:"stream,omitempty"`
}

type antMessage struct {
	Role    string     `json:"role"`
	Content []antBlock `json:"content"`
}

type antBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text,omitempty"`
	Source    *antSource      `json:"source,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   json.RawMessage `json:"content,omitempty"`
	// Thinking blocks (responses only).
	Thinking string `json:"thinking,omitempty"`
}

type antSource struct {
	Type      string `json:"type"` // base64 | url
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

type antTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type antToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

// toAnthropic translates the request. Mapping (§2.4): system and developer
// messages → top-level system (joined by a blank line); tool messages →
// user tool_result blocks; consecutive same-role messages merged;
// assistant tool_calls → tool_use with parsed input; image_url → image
// (data URLs base64, http(s) URLs as url sources); max_completion_tokens /
// max_tokens → max_tokens (the model's default when absent: Anthropic
// requires one); stop → stop_sequences; user → metadata.user_id;
// temperature clamped to Anthropic's 0–1; tool_choice and
// parallel_tool_calls mapped. n > 1 has no equivalent and is refused;
// response_format and logprobs have none and are not sent.
func toAnthropic(c *chatCall, model string) (*antRequest, *reason.Error) {
	req := c.req
	if req.N != nil && *req.N > 1 {
		return nil, badRequest("n", "This model's provider (Anthropic) returns one choice; n must be 1.")
	}
	out := &antRequest{Model: model, MaxTokens: req.maxTokens(), Stream: req.Stream, TopP: req.TopP}
	if out.MaxTokens == 0 {
		out.MaxTokens = c.maxOutput
	}
	if t := req.Temperature; t != nil {
		v := min(max(*t, 0), 1)
		out.Temperature = &v
	}
	out.StopSequences, _ = req.stops()
	if req.User != "" {
		out.Metadata = &struct {
			UserID string `json:"user_id"`
		}{req.User}
	}
	for _, t := range req.Tools {
		schema := t.Function.Parameters
		if len(schema) == 0 || string(schema) == "null" {
			schema = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		out.Tools = append(out.Tools, antTool{Name: t.Function.Name, Description: t.Function.Description, InputSchema: schema})
	}
	if tc, ok := req.toolChoice(); ok {
		switch tc.Mode {
		case "auto":
			out.ToolChoice = &antToolChoice{Type: "auto"}
		case "required":
			out.ToolChoice = &antToolChoice{Type: "any"}
		case "none":
			out.ToolChoice = &antToolChoice{Type: "none"}
		case "function":
			out.ToolChoice = &antToolChoice{Type: "tool", Name: tc.Name}
		}
	}
	if req.ParallelToolCalls != nil && !*req.ParallelToolCalls && len(req.Tools) > 0 {
		if out.ToolChoice == nil {
			out.ToolChoice = &antToolChoice{Type: "auto"}
		}
		if out.ToolChoice.Type != "none" {
			out.ToolChoice.DisableParallelToolUse = true
		}
	}
	var system []string
	for i := range req.Messages {
		m := &req.Messages[i]
		at := "messages[" + strconv.Itoa(i) + "]"
		var role string
		var blocks []antBlock
		switch m.Role {
		case "system", "developer":
			if t := m.text(); t != "" {
				system = append(system, t)
			}
			continue
		case "user":
			role = "user"
			for k, p := range m.parts {
				b, err := antContentBlock(p)
				if err != nil {
					return nil, badRequest(fmt.Sprintf("%s.content[%d]", at, k), err.Error())
				}
				if b.Type == "text" && b.Text == "" {
					continue
				}
				blocks = append(blocks, b)
			}
		case "assistant":
			role = "assistant"
			if t := m.text(); t != "" {
				blocks = append(blocks, antBlock{Type: "text", Text: t})
			}
			for j, tc := range m.ToolCalls {
				input, err := toolArgs(tc.Function.Arguments)
				if err != nil {
					return nil, badRequest(fmt.Sprintf("%s.tool_calls[%d].function.arguments", at, j), "Tool-call arguments must be a JSON object.")
				}
				blocks = append(blocks, antBlock{Type: "tool_use", ID: tc.ID, Name: tc.Function.Name, Input: input})
			}
		case "tool":
			role = "user"
			content, _ := json.Marshal(m.text())
			blocks = append(blocks, antBlock{Type: "tool_result", ToolUseID: m.ToolCallID, Content: content})
		}
		if len(blocks) == 0 {
			continue
		}
		if n := len(out.Messages); n > 0 && out.Messages[n-1].Role == role {
			out.Messages[n-1].Content = append(out.Messages[n-1].Content, blocks...)
			continue
		}
		out.Messages = append(out.Messages, antMessage{Role: role, Content: blocks})
	}
	out.System = strings.Join(system, "\n\n")
	if len(out.Messages) == 0 {
		return nil, badRequest("messages", "Anthropic needs at least one user or assistant message besides the system prompt.")
	}
	return out, nil
}

// toolArgs parses OpenAI's arguments string into a JSON object ("" → {}).
func toolArgs(s string) (json.RawMessage, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return json.RawMessage("{}"), nil
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &obj); err != nil {
		return nil, err
	}
	return json.RawMessage(s), nil
}

func antContentBlock(p contentPart) (antBlock, error) {
	if p.Type == "text" {
		return antBlock{Type: "text", Text: p.Text}, nil
	}
	media, data, isData, err := parseDataURL(p.ImageURL.URL)
	if err != nil {
		return antBlock{}, err
	}
	if isData {
		return antBlock{Type: "image", Source: &antSource{Type: "base64", MediaType: media, Data: data}}, nil
	}
	return antBlock{Type: "image", Source: &antSource{Type: "url", URL: p.ImageURL.URL}}, nil
}

// parseDataURL splits "data:image/png;base64,AAAA"; http(s) URLs return
// isData false; anything else is an error.
func parseDataURL(u string) (media, data string, isData bool, err error) {
	if strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") {
		return "", "", false, nil
	}
	rest, ok := strings.CutPrefix(u, "data:")
	if !ok {
		return "", "", false, errors.New("image url must be a data: URL or an http(s) URL")
	}
	meta, payload, ok := strings.Cut(rest, ",")
	media, enc, _ := strings.Cut(meta, ";")
	if !ok || enc != "base64" || media == "" {
		return "", "", false, errors.New("image data URL must be data:<media type>;base64,<data>")
	}
	return media, payload, true, nil
}

func (anthropicAdapter) chatRequest(ctx context.Context, p *Provider, model, key string, c *chatCall) (*http.Request, error) {
	ar, rerr := toAnthropic(c, model)
	if rerr != nil {
		return nil, rerr
	}
	body, err := json.Marshal(ar)
	if err != nil {
		return nil, err
	}
	base := strings.TrimRight(p.BaseURL, "/")
	if base == "" {
		base = DefaultAnthropicBaseURL
	}
	req, err := newJSONRequest(ctx, base+"/v1/messages", body, c.req.Stream)
	if err != nil {
		return nil, err
	}
	ver := p.APIVersion
	if ver == "" {
		ver = DefaultAnthropicVersion
	}
	req.Header["X-Api-Key"] = []string{key}
	req.Header["Anthropic-Version"] = []string{ver}
	return req, nil
}

type antUsage struct {
	InputTokens              *int64 `json:"input_tokens"`
	OutputTokens             *int64 `json:"output_tokens"`
	CacheCreationInputTokens *int64 `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     *int64 `json:"cache_read_input_tokens"`
}

type antResponse struct {
	ID         string     `json:"id"`
	Type       string     `json:"type"`
	Model      string     `json:"model"`
	Content    []antBlock `json:"content"`
	StopReason string     `json:"stop_reason"`
	Usage      *antUsage  `json:"usage"`
}

// antAcc accumulates Anthropic usage: message_start carries the input
// side and a placeholder output; message_delta's counts are cumulative
// (take the last, never add).
type antAcc struct {
	input, cacheRead, cacheWrite, output int64
	haveInput, haveOutput                bool
}

func (a *antAcc) apply(u *antUsage, final bool) {
	if u == nil {
		return
	}
	if u.InputTokens != nil {
		a.input, a.haveInput = *u.InputTokens, true
	}
	if u.CacheReadInputTokens != nil {
		a.cacheRead = *u.CacheReadInputTokens
	}
	if u.CacheCreationInputTokens != nil {
		a.cacheWrite = *u.CacheCreationInputTokens
	}
	if u.OutputTokens != nil {
		a.output = *u.OutputTokens
		if final {
			a.haveOutput = true
		}
	}
}

// usage maps to OpenAI's sense: prompt = input + cache read + cache
// creation, cached = cache read (§2.4).
func (a *antAcc) usage() Usage {
	p := a.input + a.cacheRead + a.cacheWrite
	return Usage{PromptTokens: p, CachedPromptTokens: a.cacheRead, CacheWriteTokens: a.cacheWrite,
		CompletionTokens: a.output, TotalTokens: p + a.output}
}

func antFinish(stop string) string {
	switch stop {
	case "max_tokens":
		return "length"
	case "tool_use":
		return "tool_calls"
	case "refusal":
		return "content_filter"
	}
	return "stop" // end_turn, stop_sequence, pause_turn
}

func (anthropicAdapter) chatResult(body []byte, c *chatCall) (outcome, error) {
	var r antResponse
	if err := json.Unmarshal(body, &r); err != nil || r.Type != "message" {
		return outcome{}, errors.New("provider answered 200 with a body that is not an Anthropic message")
	}
	msg := responseMessage{Role: "assistant"}
	var text, thinking strings.Builder
	var o outcome
	for _, b := range r.Content {
		switch b.Type {
		case "text":
			text.WriteString(b.Text)
		case "thinking":
			thinking.WriteString(b.Thinking)
		case "tool_use":
			args := string(b.Input)
			if args == "" || args == "null" {
				args = "{}"
			}
			tc := toolCall{ID: b.ID, Type: "function"}
			tc.Function.Name, tc.Function.Arguments = b.Name, args
			msg.ToolCalls = append(msg.ToolCalls, tc)
			o.runes += runes(b.Name) + runes(args)
		}
	}
	if text.Len() > 0 || len(msg.ToolCalls) == 0 {
		msg.Content = strp(text.String())
	}
	msg.ReasoningContent = thinking.String()
	o.runes += runes(text.String()) + runes(msg.ReasoningContent)
	resp := chatResponse{ID: r.ID, Object: "chat.completion", Created: c.created, Model: r.Model,
		Choices: []chatChoice{{Message: msg, FinishReason: antFinish(r.StopReason)}}}
	if r.Usage != nil {
		var acc antAcc
		acc.apply(r.Usage, true)
		u := acc.usage()
		o.usage = &u
		resp.Usage = toUsageJSON(u)
	}
	var err error
	o.body, err = json.Marshal(&resp)
	return o, err
}

func (anthropicAdapter) errorInfo(body []byte) providerError {
	var r struct {
		Error *struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &r) == nil && r.Error != nil {
		return providerError{Message: r.Error.Message, Type: r.Error.Type}
	}
	return providerError{Message: snippet(body)}
}

func (anthropicAdapter) embeddingsRequest(context.Context, *Provider, string, string, *embeddingsCall) (*http.Request, error) {
	return nil, errNoEmbeddings
}

func (anthropicAdapter) embeddingsResult([]byte, *embeddingsCall) (outcome, error) {
	return outcome{}, errNoEmbeddings
}

func (anthropicAdapter) stream(c *chatCall) translator {
	return &antStream{st: streamState{includeUsage: c.includeUsage, created: c.created}, tools: map[int]int{}, argued: map[int]bool{}}
}

// antStream maps Anthropic events to OpenAI chunks event by event (the
// table in §2.4): message_start → role chunk; tool_use block start → a
// tool_calls delta with id and name (index = running tool counter, not
// the block index); text/input_json/thinking deltas → content /
// arguments / reasoning_content; message_delta → finish chunk;
// message_stop → usage chunk (if asked) and [DONE]; ping and
// content_block_stop are dropped; error → *streamError.
type antStream struct {
	st    streamState
	acc   antAcc
	tools map[int]int // block index → tool call index
	// argued holds the tool blocks that sent arguments: one that ends
	// without any (a tool called with input {}) is given "{}" at its
	// content_block_stop, as the non-streamed answer and OpenAI give —
	// clients JSON-parse the accumulated arguments, and "" fails there.
	argued  map[int]bool
	started bool
}

func (s *antStream) state() *streamState { return &s.st }

type antEvent struct {
	Type    string       `json:"type"`
	Message *antResponse `json:"message"`
	Index   int          `json:"index"`
	Block   *antBlock    `json:"content_block"`
	Delta   *struct {
		Type        string `json:"type"`
		Text        string `json:"text"`
		PartialJSON string `json:"partial_json"`
		Thinking    string `json:"thinking"`
		StopReason  string `json:"stop_reason"`
	} `json:"delta"`
	Usage *antUsage `json:"usage"`
	Error *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

func (s *antStream) event(ev sse.Event, out []byte) ([]byte, error) {
	var e antEvent
	if err := json.Unmarshal(ev.Data, &e); err != nil {
		return out, &streamError{status: http.StatusBadGateway, perr: providerError{Message: "stream frame is not JSON", Type: "malformed_stream"}}
	}
	if e.Type == "" {
		e.Type = ev.Name
	}
	switch e.Type {
	case "message_start":
		if e.Message != nil {
			s.st.id, s.st.model = e.Message.ID, e.Message.Model
			s.acc.apply(e.Message.Usage, false)
			s.st.usage = s.acc.usage()
			s.st.promptKnown = s.acc.haveInput
		}
		s.started = true
		return appendChunk(out, s.st.chunk(chunkChoice{Delta: chunkDelta{Role: "assistant", Content: strp("")}})), nil
	case "content_block_start":
		if e.Block == nil {
			return out, nil
		}
		switch e.Block.Type {
		case "tool_use":
			k := len(s.tools)
			s.tools[e.Index] = k
			s.st.produced(e.Block.Name)
			tc := toolCall{Index: &k, ID: e.Block.ID, Type: "function"}
			tc.Function.Name = e.Block.Name
			return appendChunk(out, s.st.chunk(chunkChoice{Delta: chunkDelta{ToolCalls: []toolCall{tc}}})), nil
		case "text":
			if e.Block.Text != "" {
				s.st.produced(e.Block.Text)
				return appendChunk(out, s.st.chunk(chunkChoice{Delta: chunkDelta{Content: strp(e.Block.Text)}})), nil
			}
		}
		return out, nil
	case "content_block_delta":
		if e.Delta == nil {
			return out, nil
		}
		switch e.Delta.Type {
		case "text_delta":
			s.st.produced(e.Delta.Text)
			return appendChunk(out, s.st.chunk(chunkChoice{Delta: chunkDelta{Content: strp(e.Delta.Text)}})), nil
		case "input_json_delta":
			k, ok := s.tools[e.Index]
			if !ok || e.Delta.PartialJSON == "" {
				return out, nil
			}
			s.argued[e.Index] = true
			s.st.produced(e.Delta.PartialJSON)
			tc := toolCall{Index: &k}
			tc.Function.Arguments = e.Delta.PartialJSON
			return appendChunk(out, s.st.chunk(chunkChoice{Delta: chunkDelta{ToolCalls: []toolCall{tc}}})), nil
		case "thinking_delta":
			s.st.produced(e.Delta.Thinking)
			return appendChunk(out, s.st.chunk(chunkChoice{Delta: chunkDelta{ReasoningContent: e.Delta.Thinking}})), nil
		}
		return out, nil // signature_delta and future delta types
	case "message_delta":
		s.acc.apply(e.Usage, true)
		s.st.usage = s.acc.usage()
		s.st.promptKnown = s.acc.haveInput
		s.st.completionKnown = s.acc.haveOutput
		if e.Delta != nil && e.Delta.StopReason != "" {
			f := antFinish(e.Delta.StopReason)
			return appendChunk(out, s.st.chunk(chunkChoice{Delta: chunkDelta{}, FinishReason: &f})), nil
		}
		return out, nil
	case "content_block_stop":
		k, ok := s.tools[e.Index]
		if !ok || s.argued[e.Index] {
			return out, nil
		}
		s.argued[e.Index] = true
		tc := toolCall{Index: &k}
		tc.Function.Arguments = "{}"
		return appendChunk(out, s.st.chunk(chunkChoice{Delta: chunkDelta{ToolCalls: []toolCall{tc}}})), nil
	case "message_stop":
		return s.st.closing(out), nil
	case "error":
		pe := providerError{Message: "stream error", Type: "api_error"}
		if e.Error != nil {
			pe = providerError{Message: e.Error.Message, Type: e.Error.Type}
		}
		return out, &streamError{status: statusOfType(pe.Type), perr: pe}
	}
	return out, nil // ping, unknown future events
}

func (s *antStream) end(out []byte) ([]byte, error) {
	if s.st.done {
		return out, nil
	}
	return out, &streamError{status: http.StatusBadGateway, perr: providerError{Message: "stream ended before message_stop", Type: "incomplete_stream"}}
}
