package ai

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"gatehouse/internal/ai/sse"
	"gatehouse/internal/reason"
)

// geminiAdapter translates OpenAI chat completions to Gemini
// generateContent / streamGenerateContent?alt=sse and back, and embeddings
// to batchEmbedContents (ai-wire-formats.md §2.5). The key travels in the
// x-goog-api-key header, never as ?key= (which ends up in access logs).
type geminiAdapter struct{}

type gemRequest struct {
	Contents          []gemContent   `json:"contents"`
	SystemInstruction *gemContent    `json:"systemInstruction,omitempty"`
	GenerationConfig  *gemGenConfig  `json:"generationConfig,omitempty"`
	Tools             []gemTool      `json:"tools,omitempty"`
	ToolConfig        *gemToolConfig `json:"toolConfig,omitempty"`
}

type gemContent struct {
	Role  string    `json:"role,omitempty"`
	Parts []gemPart `json:"parts"`
}

type gemPart struct {
	Text             string           `json:"text,omitempty"`
	Thought          bool             `json:"thought,omitempty"`
	InlineData       *gemBlob         `json:"inlineData,omitempty"`
	FileData         *gemFile         `json:"fileData,omitempty"`
	FunctionCall     *gemFunctionCall `json:"functionCall,omitempty"`
	FunctionResponse *gemFunctionResp `json:"functionResponse,omitempty"`
}

type gemBlob struct {
	MimeType string `json:"mimeType"`
	Data     string `json:"data"`
}

type gemFile struct {
	MimeType string `json:"mimeType,omitempty"`
	FileURI  string `json:"fileUri"`
}

type gemFunctionCall struct {
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

type gemFunctionResp struct {
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"`
}

type gemGenConfig struct {
	Temperature        *float64        `json:"temperature,omitempty"`
	TopP               *float64        `json:"topP,omitempty"`
	MaxOutputTokens    int64           `json:"maxOutputTokens,omitempty"`
	StopSequences      []string        `json:"stopSequences,omitempty"`
	CandidateCount     int             `json:"candidateCount,omitempty"`
	ResponseMimeType   string          `json:"responseMimeType,omitempty"`
	ResponseJSONSchema json.RawMessage `json:"responseJsonSchema,omitempty"`
}

type gemTool struct {
	FunctionDeclarations []gemFunctionDecl `json:"functionDeclarations"`
}

type gemFunctionDecl struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}

type gemToolConfig struct {
	FunctionCallingConfig struct {
		Mode                 string   `json:"mode"`
		AllowedFunctionNames []string `json:"allowedFunctionNames,omitempty"`
	} `json:"functionCallingConfig"`
}

// toGemini translates the request: system/developer → systemInstruction;
// user/assistant → user/model contents (consecutive same-role merged);
// assistant tool_calls → functionCall parts; tool messages → functionResponse
// parts named after the earlier call with that id (a JSON-object result is
// sent as is, anything else as {"result": …}); images → inlineData or
// fileData; sampling, stop, n and response_format → generationConfig;
// tools and tool_choice → functionDeclarations and functionCallingConfig.
func toGemini(c *chatCall) (*gemRequest, *reason.Error) {
	req := c.req
	out := &gemRequest{}
	gc := gemGenConfig{Temperature: req.Temperature, TopP: req.TopP, MaxOutputTokens: req.maxTokens()}
	gc.StopSequences, _ = req.stops()
	if req.N != nil && *req.N > 1 {
		gc.CandidateCount = *req.N
	}
	if rf := req.ResponseFormat; rf != nil {
		switch rf.Type {
		case "json_object":
			gc.ResponseMimeType = "application/json"
		case "json_schema":
			gc.ResponseMimeType = "application/json"
			if rf.JSONSchema != nil {
				gc.ResponseJSONSchema = rf.JSONSchema.Schema
			}
		}
	}
	if gc.Temperature != nil || gc.TopP != nil || gc.MaxOutputTokens != 0 || len(gc.StopSequences) > 0 ||
		gc.CandidateCount != 0 || gc.ResponseMimeType != "" {
		out.GenerationConfig = &gc
	}
	if len(req.Tools) > 0 {
		t := gemTool{}
		for _, tl := range req.Tools {
			t.FunctionDeclarations = append(t.FunctionDeclarations, gemFunctionDecl{Name: tl.Function.Name,
				Description: tl.Function.Description, Parameters: tl.Function.Parameters})
		}
		out.Tools = []gemTool{t}
	}
	if tc, ok := req.toolChoice(); ok {
		cfg := &gemToolConfig{}
		switch tc.Mode {
		case "auto":
			cfg.FunctionCallingConfig.Mode = "AUTO"
		case "none":
			cfg.FunctionCallingConfig.Mode = "NONE"
		case "required":
			cfg.FunctionCallingConfig.Mode = "ANY"
		case "function":
			cfg.FunctionCallingConfig.Mode = "ANY"
			cfg.FunctionCallingConfig.AllowedFunctionNames = []string{tc.Name}
		}
		out.ToolConfig = cfg
	}
	names := map[string]string{} // tool call id → function name
	var system []gemPart
	for i := range req.Messages {
		m := &req.Messages[i]
		at := "messages[" + strconv.Itoa(i) + "]"
		var role string
		var parts []gemPart
		switch m.Role {
		case "system", "developer":
			if t := m.text(); t != "" {
				system = append(system, gemPart{Text: t})
			}
			continue
		case "user":
			role = "user"
			for k, p := range m.parts {
				gp, err := gemContentPart(p)
				if err != nil {
					return nil, badRequest(fmt.Sprintf("%s.content[%d]", at, k), err.Error())
				}
				if gp.Text == "" && gp.InlineData == nil && gp.FileData == nil {
					continue
				}
				parts = append(parts, gp)
			}
		case "assistant":
			role = "model"
			if t := m.text(); t != "" {
				parts = append(parts, gemPart{Text: t})
			}
			for j, tc := range m.ToolCalls {
				args, err := toolArgs(tc.Function.Arguments)
				if err != nil {
					return nil, badRequest(fmt.Sprintf("%s.tool_calls[%d].function.arguments", at, j), "Tool-call arguments must be a JSON object.")
				}
				names[tc.ID] = tc.Function.Name
				parts = append(parts, gemPart{FunctionCall: &gemFunctionCall{Name: tc.Function.Name, Args: args}})
			}
		case "tool":
			role = "user"
			name, ok := names[m.ToolCallID]
			if !ok {
				return nil, badRequest(at+".tool_call_id", fmt.Sprintf("No earlier assistant message has a tool call with id %q (Gemini needs the function name).", m.ToolCallID))
			}
			parts = append(parts, gemPart{FunctionResponse: &gemFunctionResp{Name: name, Response: toolResult(m.text())}})
		}
		if len(parts) == 0 {
			continue
		}
		if n := len(out.Contents); n > 0 && out.Contents[n-1].Role == role {
			out.Contents[n-1].Parts = append(out.Contents[n-1].Parts, parts...)
			continue
		}
		out.Contents = append(out.Contents, gemContent{Role: role, Parts: parts})
	}
	if len(system) > 0 {
		out.SystemInstruction = &gemContent{Parts: system}
	}
	if len(out.Contents) == 0 {
		return nil, badRequest("messages", "Gemini needs at least one user or assistant message besides the system prompt.")
	}
	return out, nil
}

// toolResult wraps a tool message for functionResponse.response, which
// must be an object.
func toolResult(s string) json.RawMessage {
	var obj map[string]json.RawMessage
	if json.Unmarshal([]byte(s), &obj) == nil && obj != nil {
		return json.RawMessage(s)
	}
	var v json.RawMessage
	if json.Unmarshal([]byte(s), &v) == nil {
		b, _ := json.Marshal(map[string]json.RawMessage{"result": v})
		return b
	}
	b, _ := json.Marshal(map[string]string{"result": s})
	return b
}

func gemContentPart(p contentPart) (gemPart, error) {
	if p.Type == "text" {
		return gemPart{Text: p.Text}, nil
	}
	media, data, isData, err := parseDataURL(p.ImageURL.URL)
	if err != nil {
		return gemPart{}, err
	}
	if isData {
		return gemPart{InlineData: &gemBlob{MimeType: media, Data: data}}, nil
	}
	return gemPart{FileData: &gemFile{FileURI: p.ImageURL.URL}}, nil
}

func gemURL(p *Provider, model, method string) string {
	base := strings.TrimRight(p.BaseURL, "/")
	if base == "" {
		base = DefaultGeminiBaseURL
	}
	model = strings.TrimPrefix(model, "models/")
	return base + "/v1beta/models/" + url.PathEscape(model) + ":" + method
}

func (geminiAdapter) chatRequest(ctx context.Context, p *Provider, model, key string, c *chatCall) (*http.Request, error) {
	gr, rerr := toGemini(c)
	if rerr != nil {
		return nil, rerr
	}
	body, err := json.Marshal(gr)
	if err != nil {
		return nil, err
	}
	u := gemURL(p, model, "generateContent")
	if c.req.Stream {
		u = gemURL(p, model, "streamGenerateContent") + "?alt=sse"
	}
	req, err := newJSONRequest(ctx, u, body, c.req.Stream)
	if err != nil {
		return nil, err
	}
	req.Header["X-Goog-Api-Key"] = []string{key}
	return req, nil
}

type gemResponse struct {
	Candidates []struct {
		Content      *gemContent `json:"content"`
		FinishReason string      `json:"finishReason"`
		Index        int         `json:"index"`
	} `json:"candidates"`
	UsageMetadata  *gemUsage `json:"usageMetadata"`
	ModelVersion   string    `json:"modelVersion"`
	ResponseID     string    `json:"responseId"`
	PromptFeedback *struct {
		BlockReason string `json:"blockReason"`
	} `json:"promptFeedback"`
	Error *gemError `json:"error"`
}

type gemError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
}

type gemUsage struct {
	PromptTokenCount        int64 `json:"promptTokenCount"`
	CandidatesTokenCount    int64 `json:"candidatesTokenCount"`
	TotalTokenCount         int64 `json:"totalTokenCount"`
	CachedContentTokenCount int64 `json:"cachedContentTokenCount"`
	ThoughtsTokenCount      int64 `json:"thoughtsTokenCount"`
}

// usage maps §2.5: completion = candidates + thoughts, reasoning =
// thoughts, cached = cachedContentTokenCount (already inside the prompt
// count), total as reported.
func (g *gemUsage) usage() Usage {
	u := Usage{PromptTokens: g.PromptTokenCount, CachedPromptTokens: g.CachedContentTokenCount,
		CompletionTokens: g.CandidatesTokenCount + g.ThoughtsTokenCount, ReasoningTokens: g.ThoughtsTokenCount,
		TotalTokens: g.TotalTokenCount}
	if u.TotalTokens == 0 {
		u.TotalTokens = u.PromptTokens + u.CompletionTokens
	}
	return u
}

func gemFinish(reason string, calls bool) string {
	switch reason {
	case "MAX_TOKENS":
		return "length"
	case "SAFETY", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "RECITATION", "IMAGE_SAFETY":
		return "content_filter"
	}
	if calls {
		return "tool_calls"
	}
	return "stop" // STOP, OTHER, MALFORMED_FUNCTION_CALL, unspecified
}

func (geminiAdapter) chatResult(body []byte, c *chatCall) (outcome, error) {
	var r gemResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return outcome{}, errors.New("provider answered 200 with a body that is not a Gemini response")
	}
	if r.Error != nil {
		return outcome{}, &streamError{status: http.StatusBadGateway, perr: providerError{Message: r.Error.Message, Type: r.Error.Status}}
	}
	if len(r.Candidates) == 0 && r.PromptFeedback == nil {
		return outcome{}, errors.New("provider answered 200 without candidates")
	}
	id := r.ResponseID
	if id == "" {
		id = c.newID("chatcmpl-")
	}
	resp := chatResponse{ID: id, Object: "chat.completion", Created: c.created, Model: cmp.Or(r.ModelVersion, c.model), Choices: []chatChoice{}}
	var o outcome
	for _, cand := range r.Candidates {
		msg := responseMessage{Role: "assistant"}
		var text, thought strings.Builder
		if cand.Content != nil {
			for _, p := range cand.Content.Parts {
				switch {
				case p.FunctionCall != nil:
					tc := toolCall{ID: p.FunctionCall.ID, Type: "function"}
					if tc.ID == "" {
						tc.ID = c.newID("call_")
					}
					tc.Function.Name, tc.Function.Arguments = p.FunctionCall.Name, argsString(p.FunctionCall.Args)
					msg.ToolCalls = append(msg.ToolCalls, tc)
					o.runes += runes(tc.Function.Name) + runes(tc.Function.Arguments)
				case p.Thought:
					thought.WriteString(p.Text)
				default:
					text.WriteString(p.Text)
				}
			}
		}
		if text.Len() > 0 || len(msg.ToolCalls) == 0 {
			msg.Content = strp(text.String())
		}
		msg.ReasoningContent = thought.String()
		o.runes += runes(text.String()) + runes(msg.ReasoningContent)
		resp.Choices = append(resp.Choices, chatChoice{Index: cand.Index, Message: msg,
			FinishReason: gemFinish(cand.FinishReason, len(msg.ToolCalls) > 0)})
	}
	if len(r.Candidates) == 0 { // prompt blocked
		resp.Choices = append(resp.Choices, chatChoice{Message: responseMessage{Role: "assistant", Content: strp("")},
			FinishReason: "content_filter"})
	}
	if r.UsageMetadata != nil {
		u := r.UsageMetadata.usage()
		o.usage = &u
		resp.Usage = toUsageJSON(u)
	}
	var err error
	o.body, err = json.Marshal(&resp)
	return o, err
}

func argsString(a json.RawMessage) string {
	if len(a) == 0 || string(a) == "null" {
		return "{}"
	}
	return string(a)
}

func (geminiAdapter) errorInfo(body []byte) providerError {
	var r struct {
		Error *gemError `json:"error"`
	}
	if json.Unmarshal(body, &r) == nil && r.Error != nil {
		return providerError{Message: r.Error.Message, Type: r.Error.Status}
	}
	// Gemini sometimes answers a list holding the error object.
	var list []struct {
		Error *gemError `json:"error"`
	}
	if json.Unmarshal(body, &list) == nil && len(list) > 0 && list[0].Error != nil {
		return providerError{Message: list[0].Error.Message, Type: list[0].Error.Status}
	}
	return providerError{Message: snippet(body)}
}

func (geminiAdapter) stream(c *chatCall) translator {
	return &gemStream{st: streamState{includeUsage: c.includeUsage, created: c.created, model: c.model}, newID: c.newID,
		roleSent: map[int]bool{}, calls: map[int]int{}}
}

// gemStream maps Gemini frames (each a whole GenerateContentResponse) to
// OpenAI chunks: text parts → content, thought parts → reasoning_content,
// functionCall parts (which arrive whole) → one tool_calls delta with a
// generated call_ id and the full arguments, finishReason → finish chunk,
// usageMetadata → remembered (the last one wins; it may be repeated
// cumulatively). The stream has no [DONE]: it is complete at EOF after a
// finishReason.
type gemStream struct {
	st       streamState
	newID    func(string) string
	roleSent map[int]bool
	calls    map[int]int // candidate → tool calls so far
	finished bool
}

func (s *gemStream) state() *streamState { return &s.st }

func (s *gemStream) event(ev sse.Event, out []byte) ([]byte, error) {
	var r gemResponse
	if err := json.Unmarshal(ev.Data, &r); err != nil {
		return out, &streamError{status: http.StatusBadGateway, perr: providerError{Message: "stream frame is not JSON", Type: "malformed_stream"}}
	}
	if r.Error != nil {
		st := r.Error.Code
		if st < 400 {
			st = statusOfType(r.Error.Status)
		}
		return out, &streamError{status: st, perr: providerError{Message: r.Error.Message, Type: r.Error.Status}}
	}
	if s.st.id == "" {
		s.st.id = r.ResponseID
		if s.st.id == "" {
			s.st.id = s.newID("chatcmpl-")
		}
	}
	if r.ModelVersion != "" {
		s.st.model = r.ModelVersion
	}
	if r.UsageMetadata != nil {
		s.st.usage = r.UsageMetadata.usage()
		s.st.promptKnown, s.st.completionKnown = true, true
	}
	for _, cand := range r.Candidates {
		role := ""
		if !s.roleSent[cand.Index] {
			role = "assistant"
			s.roleSent[cand.Index] = true
		}
		var d chunkDelta
		emit := func() {
			if d.Content == nil && d.ReasoningContent == "" && len(d.ToolCalls) == 0 && role == "" {
				return
			}
			d.Role, role = role, ""
			if d.Role != "" && d.Content == nil && len(d.ToolCalls) == 0 {
				d.Content = strp("")
			}
			out = appendChunk(out, s.st.chunk(chunkChoice{Index: cand.Index, Delta: d}))
			d = chunkDelta{}
		}
		if cand.Content != nil {
			var text, thought strings.Builder
			for _, p := range cand.Content.Parts {
				switch {
				case p.FunctionCall != nil:
					k := s.calls[cand.Index]
					s.calls[cand.Index] = k + 1
					tc := toolCall{Index: &k, ID: p.FunctionCall.ID, Type: "function"}
					if tc.ID == "" {
						tc.ID = s.newID("call_")
					}
					tc.Function.Name, tc.Function.Arguments = p.FunctionCall.Name, argsString(p.FunctionCall.Args)
					s.st.produced(tc.Function.Name)
					s.st.produced(tc.Function.Arguments)
					d.ToolCalls = append(d.ToolCalls, tc)
				case p.Thought:
					thought.WriteString(p.Text)
				default:
					text.WriteString(p.Text)
				}
			}
			if thought.Len() > 0 {
				s.st.produced(thought.String())
				d.ReasoningContent = thought.String()
			}
			if text.Len() > 0 {
				s.st.produced(text.String())
				d.Content = strp(text.String())
			}
		}
		emit()
		if cand.FinishReason != "" {
			f := gemFinish(cand.FinishReason, s.calls[cand.Index] > 0)
			out = appendChunk(out, s.st.chunk(chunkChoice{Index: cand.Index, Delta: chunkDelta{}, FinishReason: &f}))
			s.finished = true
		}
	}
	if len(r.Candidates) == 0 && r.PromptFeedback != nil && r.PromptFeedback.BlockReason != "" {
		f := "content_filter"
		out = appendChunk(out, s.st.chunk(chunkChoice{Delta: chunkDelta{Role: "assistant", Content: strp("")}, FinishReason: &f}))
		s.finished = true
	}
	return out, nil
}

func (s *gemStream) end(out []byte) ([]byte, error) {
	if !s.finished {
		return out, &streamError{status: http.StatusBadGateway, perr: providerError{Message: "stream ended before a finishReason", Type: "incomplete_stream"}}
	}
	return s.st.closing(out), nil
}

// Embeddings through batchEmbedContents. Gemini reports no usage for
// embeddings, so the usage is estimated and marked so.

func (geminiAdapter) embeddingsRequest(ctx context.Context, p *Provider, model, key string, e *embeddingsCall) (*http.Request, error) {
	texts, ok := e.req.texts()
	if !ok {
		return nil, badRequest("input", "This model's provider (Gemini) embeds text only: input must be a string or an array of strings.")
	}
	type req struct {
		Model                string     `json:"model"`
		Content              gemContent `json:"content"`
		OutputDimensionality *int       `json:"outputDimensionality,omitempty"`
	}
	name := "models/" + strings.TrimPrefix(model, "models/")
	var body struct {
		Requests []req `json:"requests"`
	}
	for _, t := range texts {
		body.Requests = append(body.Requests, req{Model: name, Content: gemContent{Parts: []gemPart{{Text: t}}},
			OutputDimensionality: e.req.Dimensions})
	}
	b, err := json.Marshal(&body)
	if err != nil {
		return nil, err
	}
	r, err := newJSONRequest(ctx, gemURL(p, model, "batchEmbedContents"), b, false)
	if err != nil {
		return nil, err
	}
	r.Header["X-Goog-Api-Key"] = []string{key}
	return r, nil
}

func (geminiAdapter) embeddingsResult(body []byte, e *embeddingsCall) (outcome, error) {
	var r struct {
		Embeddings *[]struct {
			Values json.RawMessage `json:"values"`
		} `json:"embeddings"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Embeddings == nil {
		return outcome{}, errors.New("provider answered 200 with a body that is not a batchEmbedContents response")
	}
	type item struct {
		Object    string          `json:"object"`
		Index     int             `json:"index"`
		Embedding json.RawMessage `json:"embedding"`
	}
	n := e.req.inputTokens()
	u := Usage{PromptTokens: n, TotalTokens: n, Estimated: true}
	resp := struct {
		Object string     `json:"object"`
		Data   []item     `json:"data"`
		Model  string     `json:"model"`
		Usage  *usageJSON `json:"usage"`
	}{Object: "list", Data: []item{}, Model: e.req.Model, Usage: &usageJSON{PromptTokens: n, TotalTokens: n}}
	for i, emb := range *r.Embeddings {
		v := emb.Values
		if e.req.EncodingFormat == "base64" {
			var fs []float32
			if err := json.Unmarshal(v, &fs); err != nil {
				return outcome{}, errors.New("provider embedding values are not numbers")
			}
			v, _ = json.Marshal(float32Base64(fs))
		}
		resp.Data = append(resp.Data, item{Object: "embedding", Index: i, Embedding: v})
	}
	b, err := json.Marshal(&resp)
	return outcome{body: b, usage: &u}, err
}

// float32Base64 is OpenAI's encoding_format "base64": little-endian
// float32s, base64-encoded.
func float32Base64(fs []float32) string {
	buf := make([]byte, 4*len(fs))
	for i, f := range fs {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(f))
	}
	return base64.StdEncoding.EncodeToString(buf)
}
