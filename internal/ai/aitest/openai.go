package aitest

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// openai answers OpenAI (/v1/…, Authorization: Bearer) and Azure OpenAI
// (/openai/deployments/{deployment}/…?api-version=…, api-key header).
func (x *exchange) openai() {
	path := x.req.Path
	var op string
	if x.f.Kind == Azure {
		rest, ok := strings.CutPrefix(path, "/openai/deployments/")
		dep, o, ok2 := strings.Cut(rest, "/")
		if !ok || !ok2 || dep == "" {
			x.openaiError(http.StatusNotFound, "invalid_request_error", "", "DeploymentNotFound", "The API deployment for this resource does not exist.")
			return
		}
		if x.r.URL.Query().Get("api-version") == "" {
			x.openaiError(http.StatusNotFound, "invalid_request_error", "", "404", "Resource not found")
			return
		}
		op = o
		if !x.accepted(x.r.Header.Get("Api-Key")) {
			x.openaiError(http.StatusUnauthorized, "", "", "401", "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource.")
			return
		}
	} else {
		o, ok := strings.CutPrefix(path, "/v1/")
		if !ok {
			x.openaiError(http.StatusNotFound, "invalid_request_error", "", "unknown_url", "Unknown request URL: "+x.r.Method+" "+path)
			return
		}
		op = o
		auth := x.r.Header.Get("Authorization")
		k, _ := strings.CutPrefix(auth, "Bearer ")
		if !x.accepted(k) {
			x.openaiError(http.StatusUnauthorized, "invalid_request_error", "", "invalid_api_key", "Incorrect API key provided: "+mask(k)+". You can find your API key at https://platform.openai.com/account/api-keys.")
			return
		}
	}
	switch {
	case op == "chat/completions" && x.r.Method == http.MethodPost:
		x.openaiChat()
	case op == "embeddings" && x.r.Method == http.MethodPost:
		x.openaiEmbeddings()
	case op == "models" && x.r.Method == http.MethodGet:
		x.json(http.StatusOK, map[string]any{"object": "list", "data": []any{
			map[string]any{"id": "gpt-4o-mini", "object": "model", "created": 1721172741, "owned_by": "system"}}})
	default:
		x.openaiError(http.StatusNotFound, "invalid_request_error", "", "unknown_url", "Unknown request URL: "+x.r.Method+" "+path)
	}
}

func mask(k string) string {
	if len(k) < 8 {
		return "****"
	}
	return k[:3] + "*****" + k[len(k)-4:]
}

func (x *exchange) openaiError(status int, typ, param, code, msg string) {
	e := map[string]any{"message": x.errMessage(msg), "type": typ, "param": nil, "code": code}
	if param != "" {
		e["param"] = param
	}
	if x.sc.RetryAfter > 0 {
		x.w.Header().Set("Retry-After", itoa(x.sc.RetryAfter))
	}
	x.json(status, map[string]any{"error": e})
}

func (x *exchange) scenarioError() {
	switch x.sc.Status {
	case http.StatusTooManyRequests:
		x.openaiError(429, "requests", "", "rate_limit_exceeded", "Rate limit reached for requests")
	case http.StatusUnauthorized:
		x.openaiError(401, "invalid_request_error", "", "invalid_api_key", "Incorrect API key provided")
	case http.StatusBadRequest:
		x.openaiError(400, "invalid_request_error", "temperature", "invalid_value", "Invalid value for 'temperature'")
	default:
		x.openaiError(x.sc.Status, "server_error", "", "", "The server had an error while processing your request.")
	}
}

type oaiReq struct {
	Model         string            `json:"model"`
	Messages      []json.RawMessage `json:"messages"`
	Stream        bool              `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

func (x *exchange) openaiUsage() map[string]any {
	u := x.sc.Usage
	return map[string]any{
		"prompt_tokens": u.Input, "completion_tokens": u.Output, "total_tokens": u.Input + u.Output,
		"prompt_tokens_details":     map[string]any{"cached_tokens": u.CachedInput, "audio_tokens": 0},
		"completion_tokens_details": map[string]any{"reasoning_tokens": u.Reasoning, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
	}
}

func (x *exchange) openaiChat() {
	var req oaiReq
	if err := json.Unmarshal(x.req.Body, &req); err != nil {
		x.openaiError(400, "invalid_request_error", "", "", "We could not parse the JSON body of your request.")
		return
	}
	if req.Model == "" && x.f.Kind == OpenAI {
		x.openaiError(400, "invalid_request_error", "model", "", "you must provide a model parameter")
		return
	}
	if len(req.Messages) == 0 {
		x.openaiError(400, "invalid_request_error", "messages", "empty_array", "Invalid 'messages': empty array.")
		return
	}
	if x.sc.Status != 0 {
		x.scenarioError()
		return
	}
	model := x.model(req.Model)
	created := time.Now().Unix()
	if !req.Stream {
		if x.sc.Broken {
			x.w.Header().Set("Content-Type", "application/json")
			x.w.WriteHeader(http.StatusOK)
			return
		}
		msg := map[string]any{"role": "assistant", "content": x.text(), "refusal": nil}
		finish := "stop"
		if len(x.sc.ToolCalls) > 0 {
			var tcs []any
			for _, tc := range x.sc.ToolCalls {
				tcs = append(tcs, map[string]any{"id": tc.ID, "type": "function", "function": map[string]any{"name": tc.Name, "arguments": tc.Args}})
			}
			msg["tool_calls"] = tcs
			if x.text() == "" {
				msg["content"] = nil
			}
			finish = "tool_calls"
		}
		if x.sc.Reasoning != "" {
			msg["reasoning_content"] = x.sc.Reasoning
		}
		resp := map[string]any{"id": "chatcmpl-" + x.id, "object": "chat.completion", "created": created, "model": model,
			"system_fingerprint": "fp_fake",
			"choices":            []any{map[string]any{"index": 0, "message": msg, "logprobs": nil, "finish_reason": finish}}}
		if x.sc.UsageMode != UsageAbsent {
			resp["usage"] = x.openaiUsage()
		}
		x.json(http.StatusOK, resp)
		return
	}
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	s := x.sseStart()
	// The pieces of the answer, in order, as deltas.
	var deltas []map[string]any
	if x.sc.Reasoning != "" {
		deltas = append(deltas, map[string]any{"reasoning_content": x.sc.Reasoning})
	}
	for _, c := range x.chunks() {
		deltas = append(deltas, map[string]any{"content": c})
	}
	for i, tc := range x.sc.ToolCalls {
		deltas = append(deltas, map[string]any{"tool_calls": []any{map[string]any{"index": i, "id": tc.ID, "type": "function",
			"function": map[string]any{"name": tc.Name, "arguments": ""}}}})
		half := len(tc.Args) / 2
		for _, part := range []string{tc.Args[:half], tc.Args[half:]} {
			deltas = append(deltas, map[string]any{"tool_calls": []any{map[string]any{"index": i, "function": map[string]any{"arguments": part}}}})
		}
	}
	chunk := func(choices []any, usage any) []byte {
		c := map[string]any{"id": "chatcmpl-" + x.id, "object": "chat.completion.chunk", "created": created, "model": model,
			"system_fingerprint": "fp_fake", "choices": choices}
		if includeUsage || x.sc.UsageMode == UsageEveryChunk {
			c["usage"] = usage
		}
		return mustJSON(c)
	}
	cumulative := func(k, n int) any {
		if x.sc.UsageMode != UsageEveryChunk {
			return nil
		}
		u := x.openaiUsage()
		out := x.sc.Usage.Output * int64(k) / int64(max(n, 1))
		u["completion_tokens"], u["total_tokens"] = out, x.sc.Usage.Input+out
		return u
	}
	errFrame := func() {
		s.frame("", mustJSON(map[string]any{"error": map[string]any{"message": x.errMessage("The server had an error while processing your request."),
			"type": "server_error", "param": nil, "code": nil}}))
	}
	if x.failNow(s, -1, errFrame) {
		return
	}
	n := len(deltas) + 2
	s.frame("", chunk([]any{map[string]any{"index": 0, "delta": map[string]any{"role": "assistant", "content": "", "refusal": nil},
		"logprobs": nil, "finish_reason": nil}}, cumulative(1, n)))
	for i, d := range deltas {
		if x.failNow(s, i, errFrame) {
			return
		}
		if c, ok := d["content"].(string); ok {
			d["content"] = x.piece(c)
		}
		s.frame("", chunk([]any{map[string]any{"index": 0, "delta": d, "logprobs": nil, "finish_reason": nil}}, cumulative(i+2, n)))
	}
	if x.failNow(s, len(deltas), errFrame) {
		return
	}
	finish := "stop"
	if len(x.sc.ToolCalls) > 0 {
		finish = "tool_calls"
	}
	s.frame("", chunk([]any{map[string]any{"index": 0, "delta": map[string]any{}, "logprobs": nil, "finish_reason": finish}}, cumulative(n, n)))
	if includeUsage && x.sc.UsageMode == UsageFinal {
		s.frame("", chunk([]any{}, x.openaiUsage()))
	}
	s.write("data: [DONE]" + eol(x.sc) + eol(x.sc))
}

func eol(sc Scenario) string {
	if sc.CRLF {
		return "\r\n"
	}
	return "\n"
}

func (x *exchange) openaiEmbeddings() {
	var req struct {
		Model          string          `json:"model"`
		Input          json.RawMessage `json:"input"`
		EncodingFormat string          `json:"encoding_format"`
		Dimensions     int             `json:"dimensions"`
	}
	if err := json.Unmarshal(x.req.Body, &req); err != nil || len(req.Input) == 0 {
		x.openaiError(400, "invalid_request_error", "input", "", "'input' is a required property")
		return
	}
	if x.sc.Status != 0 {
		x.scenarioError()
		return
	}
	var texts []string
	var one string
	if json.Unmarshal(req.Input, &one) == nil {
		texts = []string{one}
	} else if json.Unmarshal(req.Input, &texts) != nil {
		var toks [][]int
		var tok []int
		if json.Unmarshal(req.Input, &tok) == nil {
			toks = [][]int{tok}
		} else if json.Unmarshal(req.Input, &toks) != nil {
			x.openaiError(400, "invalid_request_error", "input", "", "Invalid 'input'")
			return
		}
		for _, t := range toks {
			texts = append(texts, strings.Repeat("t", len(t)))
		}
	}
	var data []any
	for i, t := range texts {
		v := embedding(t, req.Dimensions)
		var emb any = v
		if req.EncodingFormat == "base64" {
			emb = base64Floats(v)
		}
		data = append(data, map[string]any{"object": "embedding", "index": i, "embedding": emb})
	}
	resp := map[string]any{"object": "list", "data": data, "model": x.model(req.Model)}
	if x.sc.UsageMode != UsageAbsent {
		resp["usage"] = map[string]any{"prompt_tokens": x.sc.Usage.Input, "total_tokens": x.sc.Usage.Input}
	}
	x.json(http.StatusOK, resp)
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
