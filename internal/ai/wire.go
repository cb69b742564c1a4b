package ai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"gatehouse/internal/reason"
)

// The consumer-facing contract is the OpenAI Chat Completions wire format
// (ai-wire-formats.md §2.1). These types hold what the gateway reads or
// translates; an OpenAI-type provider receives the client's own JSON with
// only model and stream_options changed, so fields not listed here still
// reach it.

type chatRequest struct {
	Model               string          `json:"model"`
	Messages            []chatMessage   `json:"messages"`
	Tools               []chatTool      `json:"tools,omitempty"`
	ToolChoice          json.RawMessage `json:"tool_choice,omitempty"`
	ParallelToolCalls   *bool           `json:"parallel_tool_calls,omitempty"`
	Temperature         *float64        `json:"temperature,omitempty"`
	TopP                *float64        `json:"top_p,omitempty"`
	N                   *int            `json:"n,omitempty"`
	Stop                json.RawMessage `json:"stop,omitempty"`
	MaxTokens           *int64          `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int64          `json:"max_completion_tokens,omitempty"`
	ResponseFormat      *struct {
		Type       string `json:"type"`
		JSONSchema *struct {
			Name   string          `json:"name"`
			Schema json.RawMessage `json:"schema"`
		} `json:"json_schema,omitempty"`
	} `json:"response_format,omitempty"`
	User          string `json:"user,omitempty"`
	Stream        bool   `json:"stream,omitempty"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options,omitempty"`
}

// maxTokens is max_completion_tokens, else max_tokens, else 0.
func (r *chatRequest) maxTokens() int64 {
	if r.MaxCompletionTokens != nil {
		return *r.MaxCompletionTokens
	}
	if r.MaxTokens != nil {
		return *r.MaxTokens
	}
	return 0
}

func (r *chatRequest) includeUsage() bool {
	return r.StreamOptions != nil && r.StreamOptions.IncludeUsage
}

// stops returns stop as a list (it may be a string or an array).
func (r *chatRequest) stops() ([]string, error) {
	if len(r.Stop) == 0 || string(r.Stop) == "null" {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(r.Stop, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(r.Stop, &many); err != nil {
		return nil, errors.New("stop must be a string or an array of strings")
	}
	return many, nil
}

type chatMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content,omitempty"`
	Name       string          `json:"name,omitempty"`
	ToolCalls  []toolCall      `json:"tool_calls,omitempty"`
	ToolCallID string          `json:"tool_call_id,omitempty"`

	parts []contentPart // parsed Content
}

// contentPart is one element of an array content.
type contentPart struct {
	Type     string `json:"type"`
	Text     string `json:"text,omitempty"`
	ImageURL *struct {
		URL    string `json:"url"`
		Detail string `json:"detail,omitempty"`
	} `json:"image_url,omitempty"`
}

// text joins the message's text parts.
func (m *chatMessage) text() string {
	switch len(m.parts) {
	case 0:
		return ""
	case 1:
		return m.parts[0].Text
	}
	var b strings.Builder
	for _, p := range m.parts {
		b.WriteString(p.Text)
	}
	return b.String()
}

type toolCall struct {
	Index    *int   `json:"index,omitempty"`
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Function struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type chatTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Parameters  json.RawMessage `json:"parameters,omitempty"`
	} `json:"function"`
}

// toolChoice is the parsed tool_choice: Mode is auto, none or required,
// or "function" with Name.
type toolChoice struct {
	Mode string
	Name string
}

func (r *chatRequest) toolChoice() (toolChoice, bool) {
	if len(r.ToolChoice) == 0 || string(r.ToolChoice) == "null" {
		return toolChoice{}, false
	}
	var s string
	if json.Unmarshal(r.ToolChoice, &s) == nil {
		return toolChoice{Mode: s}, true
	}
	var o struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if json.Unmarshal(r.ToolChoice, &o) == nil && o.Function.Name != "" {
		return toolChoice{Mode: "function", Name: o.Function.Name}, true
	}
	return toolChoice{}, false
}

// badRequest is ai.bad_request naming the field.
func badRequest(param, detail string) *reason.Error {
	return &reason.Error{Code: "ai.bad_request", Detail: detail, Param: param, Possession: true}
}

// parseChat decodes and validates a chat request; a problem is an
// ai.bad_request that names the field.
func parseChat(body []byte) (*chatRequest, *reason.Error) {
	var req chatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, jsonError(err)
	}
	if req.Model == "" {
		return nil, badRequest("model", "The request names no model.")
	}
	if len(req.Messages) == 0 {
		return nil, badRequest("messages", "messages must be a non-empty array.")
	}
	if req.N != nil && *req.N < 1 {
		return nil, badRequest("n", "n must be at least 1.")
	}
	if _, err := req.stops(); err != nil {
		return nil, badRequest("stop", err.Error())
	}
	if mt := req.maxTokens(); mt < 0 {
		return nil, badRequest("max_tokens", "max_tokens must not be negative.")
	}
	if len(req.ToolChoice) > 0 && string(req.ToolChoice) != "null" {
		tc, ok := req.toolChoice()
		if !ok || (tc.Mode != "auto" && tc.Mode != "none" && tc.Mode != "required" && tc.Mode != "function") {
			return nil, badRequest("tool_choice", `tool_choice must be "auto", "none", "required" or {"type":"function","function":{"name":…}}.`)
		}
	}
	for i := range req.Tools {
		if req.Tools[i].Function.Name == "" {
			return nil, badRequest(fmt.Sprintf("tools[%d].function.name", i), "Every tool needs a function name.")
		}
	}
	for i := range req.Messages {
		m := &req.Messages[i]
		at := "messages[" + strconv.Itoa(i) + "]"
		switch m.Role {
		case "system", "developer", "user", "assistant", "tool":
		case "":
			return nil, badRequest(at+".role", "Message "+strconv.Itoa(i)+" has no role.")
		default:
			return nil, badRequest(at+".role", fmt.Sprintf("Message %d has role %q; want system, developer, user, assistant or tool.", i, m.Role))
		}
		parts, err := parseContent(m.Content)
		if err != nil {
			return nil, badRequest(at+".content", fmt.Sprintf("Message %d: %v.", i, err))
		}
		m.parts = parts
		if m.Role == "tool" && m.ToolCallID == "" {
			return nil, badRequest(at+".tool_call_id", fmt.Sprintf("Message %d has role tool but no tool_call_id.", i))
		}
		if len(m.ToolCalls) > 0 && m.Role != "assistant" {
			return nil, badRequest(at+".tool_calls", fmt.Sprintf("Message %d: only assistant messages carry tool_calls.", i))
		}
		for j, tc := range m.ToolCalls {
			if tc.Function.Name == "" {
				return nil, badRequest(fmt.Sprintf("%s.tool_calls[%d].function.name", at, j), "A tool call needs a function name.")
			}
		}
		if m.Role != "assistant" && len(parts) == 0 && m.Role != "tool" {
			return nil, badRequest(at+".content", fmt.Sprintf("Message %d (%s) has no content.", i, m.Role))
		}
	}
	return &req, nil
}

// parseContent reads a string, null or an array of parts.
func parseContent(raw json.RawMessage) ([]contentPart, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, errors.New("content is not a valid string")
		}
		return []contentPart{{Type: "text", Text: s}}, nil
	case '[':
		var parts []contentPart
		if err := json.Unmarshal(raw, &parts); err != nil {
			return nil, errors.New("content must be a string or an array of parts")
		}
		for k, p := range parts {
			switch p.Type {
			case "text":
			case "image_url":
				if p.ImageURL == nil || p.ImageURL.URL == "" {
					return nil, fmt.Errorf("content[%d] is an image_url part without a url", k)
				}
			default:
				return nil, fmt.Errorf("content[%d] has type %q; want text or image_url", k, p.Type)
			}
		}
		return parts, nil
	}
	return nil, errors.New("content must be a string or an array of parts")
}

// jsonError turns a decoding error into ai.bad_request naming the field
// when encoding/json can tell it.
func jsonError(err error) *reason.Error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return badRequest(te.Field, fmt.Sprintf("Field %s must be of JSON type %s, not %s.", te.Field, jsonKind(te.Type.Kind().String()), te.Value))
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return badRequest("body", fmt.Sprintf("The body is not valid JSON (offset %d).", se.Offset))
	}
	return badRequest("body", "The body is not a valid JSON object.")
}

func jsonKind(k string) string {
	switch k {
	case "slice", "array":
		return "array"
	case "struct", "map":
		return "object"
	case "int", "int64", "int32", "float64", "float32", "uint", "uint64":
		return "number"
	case "bool":
		return "boolean"
	}
	return k
}

// The OpenAI response shapes the translating adapters produce.

type chatResponse struct {
	ID      string       `json:"id"`
	Object  string       `json:"object"`
	Created int64        `json:"created"`
	Model   string       `json:"model"`
	Choices []chatChoice `json:"choices"`
	Usage   *usageJSON   `json:"usage,omitempty"`
}

type chatChoice struct {
	Index        int             `json:"index"`
	Message      responseMessage `json:"message"`
	Logprobs     *struct{}       `json:"logprobs"`
	FinishReason string          `json:"finish_reason"`
}

type responseMessage struct {
	Role             string     `json:"role"`
	Content          *string    `json:"content"`
	Refusal          *string    `json:"refusal"`
	ReasoningContent string     `json:"reasoning_content,omitempty"`
	ToolCalls        []toolCall `json:"tool_calls,omitempty"`
}

type chatChunk struct {
	ID      string        `json:"id"`
	Object  string        `json:"object"`
	Created int64         `json:"created"`
	Model   string        `json:"model"`
	Choices []chunkChoice `json:"choices"`
	Usage   *usageJSON    `json:"usage,omitempty"`
}

type chunkChoice struct {
	Index        int        `json:"index"`
	Delta        chunkDelta `json:"delta"`
	FinishReason *string    `json:"finish_reason"`
}

type chunkDelta struct {
	Role             string     `json:"role,omitempty"`
	Content          *string    `json:"content,omitempty"`
	ReasoningContent string     `json:"reasoning_content,omitempty"`
	ToolCalls        []toolCall `json:"tool_calls,omitempty"`
}

// embeddingsRequest is the part of POST /v1/embeddings the gateway reads.
type embeddingsRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format,omitempty"`
	Dimensions     *int            `json:"dimensions,omitempty"`
}

// texts returns input as strings when it is a string or string array
// (ok false for token arrays).
func (r *embeddingsRequest) texts() ([]string, bool) {
	var one string
	if json.Unmarshal(r.Input, &one) == nil {
		return []string{one}, true
	}
	var many []string
	if json.Unmarshal(r.Input, &many) == nil {
		return many, true
	}
	return nil, false
}

// inputTokens estimates input: text by EstimateTokens, token arrays by
// their length.
func (r *embeddingsRequest) inputTokens() int64 {
	if ts, ok := r.texts(); ok {
		var n int64
		for _, t := range ts {
			n += EstimateTokens(t)
		}
		return n
	}
	var one []int64
	if json.Unmarshal(r.Input, &one) == nil {
		return int64(len(one))
	}
	var many [][]int64
	if json.Unmarshal(r.Input, &many) == nil {
		var n int64
		for _, t := range many {
			n += int64(len(t))
		}
		return n
	}
	return 0
}

func parseEmbeddings(body []byte) (*embeddingsRequest, *reason.Error) {
	var req embeddingsRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return nil, jsonError(err)
	}
	if req.Model == "" {
		return nil, badRequest("model", "The request names no model.")
	}
	in := bytes.TrimSpace(req.Input)
	if len(in) == 0 || string(in) == "null" || string(in) == `""` || string(in) == "[]" {
		return nil, badRequest("input", "input must be a non-empty string or array.")
	}
	if _, ok := req.texts(); !ok && req.inputTokens() == 0 {
		return nil, badRequest("input", "input must be a string, an array of strings, an array of token ids or an array of token-id arrays.")
	}
	switch req.EncodingFormat {
	case "", "float", "base64":
	default:
		return nil, badRequest("encoding_format", `encoding_format must be "float" or "base64".`)
	}
	return &req, nil
}
