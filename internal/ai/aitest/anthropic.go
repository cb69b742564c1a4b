package aitest

import (
	"encoding/json"
	"net/http"
)

// anthropic answers POST /v1/messages (x-api-key, anthropic-version).
func (x *exchange) anthropic() {
	if x.req.Path != "/v1/messages" || x.r.Method != http.MethodPost {
		x.anthropicError(http.StatusNotFound, "not_found_error", "Not found")
		return
	}
	if !x.accepted(x.r.Header.Get("X-Api-Key")) {
		x.anthropicError(http.StatusUnauthorized, "authentication_error", "invalid x-api-key")
		return
	}
	if x.r.Header.Get("Anthropic-Version") == "" {
		x.anthropicError(http.StatusBadRequest, "invalid_request_error", "anthropic-version: header is required")
		return
	}
	var req struct {
		Model     string `json:"model"`
		MaxTokens *int   `json:"max_tokens"`
		Messages  []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
		Stream bool `json:"stream"`
	}
	if err := json.Unmarshal(x.req.Body, &req); err != nil {
		x.anthropicError(400, "invalid_request_error", "invalid JSON body")
		return
	}
	switch {
	case req.Model == "":
		x.anthropicError(400, "invalid_request_error", "model: Field required")
		return
	case req.MaxTokens == nil:
		x.anthropicError(400, "invalid_request_error", "max_tokens: Field required")
		return
	case len(req.Messages) == 0:
		x.anthropicError(400, "invalid_request_error", "messages: at least one message is required")
		return
	}
	for _, m := range req.Messages {
		if m.Role != "user" && m.Role != "assistant" {
			x.anthropicError(400, "invalid_request_error", `messages: Unexpected role "`+m.Role+`"`)
			return
		}
	}
	if x.sc.Status != 0 {
		typ := map[int]string{400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
			404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error", 529: "overloaded_error"}[x.sc.Status]
		if typ == "" {
			typ = "api_error"
		}
		msg := map[string]string{"rate_limit_error": "Number of request tokens has exceeded your per-minute rate limit",
			"overloaded_error": "Overloaded", "authentication_error": "invalid x-api-key"}[typ]
		if msg == "" {
			msg = "Internal server error"
		}
		x.anthropicError(x.sc.Status, typ, msg)
		return
	}
	model := x.model(req.Model)
	u := x.sc.Usage
	fullUsage := map[string]any{"input_tokens": u.Input, "output_tokens": u.Output,
		"cache_creation_input_tokens": u.CacheWrite, "cache_read_input_tokens": u.CachedInput}
	stop := "end_turn"
	if len(x.sc.ToolCalls) > 0 {
		stop = "tool_use"
	}
	if !req.Stream {
		if x.sc.Broken {
			x.w.Header().Set("Content-Type", "application/json")
			x.w.WriteHeader(http.StatusOK) // an empty 200
			return
		}
		var content []any
		if x.sc.Reasoning != "" {
			content = append(content, map[string]any{"type": "thinking", "thinking": x.sc.Reasoning, "signature": "sig"})
		}
		if t := x.text(); t != "" {
			content = append(content, map[string]any{"type": "text", "text": t})
		}
		for _, tc := range x.sc.ToolCalls {
			content = append(content, map[string]any{"type": "tool_use", "id": tc.ID, "name": tc.Name, "input": json.RawMessage(tc.Args)})
		}
		resp := map[string]any{"id": "msg_" + x.id, "type": "message", "role": "assistant", "model": model,
			"content": content, "stop_reason": stop, "stop_sequence": nil}
		if x.sc.UsageMode != UsageAbsent {
			resp["usage"] = fullUsage
		}
		x.json(http.StatusOK, resp)
		return
	}
	s := x.sseStart()
	errFrame := func() {
		s.frame("error", mustJSON(map[string]any{"type": "error", "error": map[string]any{"type": "overloaded_error", "message": x.errMessage("Overloaded")}}))
	}
	if x.failNow(s, -1, errFrame) {
		return
	}
	startMsg := map[string]any{"id": "msg_" + x.id, "type": "message", "role": "assistant", "model": model,
		"content": []any{}, "stop_reason": nil, "stop_sequence": nil}
	if x.sc.UsageMode != UsageAbsent {
		startMsg["usage"] = map[string]any{"input_tokens": u.Input, "cache_creation_input_tokens": u.CacheWrite,
			"cache_read_input_tokens": u.CachedInput, "output_tokens": 1}
	}
	s.frame("message_start", mustJSON(map[string]any{"type": "message_start", "message": startMsg}))
	s.frame("ping", []byte(`{"type": "ping"}`))
	sent, block := 0, 0
	// Each content delta counts as one sent chunk for FailAt.
	delta := func(ev map[string]any) bool {
		if x.failNow(s, sent, errFrame) {
			return false
		}
		s.frame("content_block_delta", mustJSON(ev))
		sent++
		return true
	}
	if x.sc.Reasoning != "" {
		s.frame("content_block_start", mustJSON(map[string]any{"type": "content_block_start", "index": block,
			"content_block": map[string]any{"type": "thinking", "thinking": ""}}))
		if !delta(map[string]any{"type": "content_block_delta", "index": block, "delta": map[string]any{"type": "thinking_delta", "thinking": x.sc.Reasoning}}) {
			return
		}
		s.frame("content_block_delta", mustJSON(map[string]any{"type": "content_block_delta", "index": block,
			"delta": map[string]any{"type": "signature_delta", "signature": "EqQBCgIYAhIM"}}))
		s.frame("content_block_stop", mustJSON(map[string]any{"type": "content_block_stop", "index": block}))
		block++
	}
	if chunks := x.chunks(); len(chunks) > 0 {
		s.frame("content_block_start", mustJSON(map[string]any{"type": "content_block_start", "index": block,
			"content_block": map[string]any{"type": "text", "text": ""}}))
		for _, c := range chunks {
			if !delta(map[string]any{"type": "content_block_delta", "index": block, "delta": map[string]any{"type": "text_delta", "text": x.piece(c)}}) {
				return
			}
		}
		s.frame("content_block_stop", mustJSON(map[string]any{"type": "content_block_stop", "index": block}))
		block++
	}
	for _, tc := range x.sc.ToolCalls {
		s.frame("content_block_start", mustJSON(map[string]any{"type": "content_block_start", "index": block,
			"content_block": map[string]any{"type": "tool_use", "id": tc.ID, "name": tc.Name, "input": map[string]any{}}}))
		half := len(tc.Args) / 2
		parts := []string{tc.Args[:half], tc.Args[half:]}
		if tc.Args == "{}" {
			// A tool called with no input: Anthropic streams one empty
			// partial_json, never the "{}".
			parts = []string{""}
		}
		for _, part := range parts {
			if !delta(map[string]any{"type": "content_block_delta", "index": block, "delta": map[string]any{"type": "input_json_delta", "partial_json": part}}) {
				return
			}
		}
		s.frame("content_block_stop", mustJSON(map[string]any{"type": "content_block_stop", "index": block}))
		block++
	}
	if x.failNow(s, sent, errFrame) {
		return
	}
	md := map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": stop, "stop_sequence": nil}}
	switch x.sc.UsageMode {
	case UsageFinal:
		md["usage"] = map[string]any{"output_tokens": u.Output}
	case UsageEveryChunk:
		// Several cumulative message_deltas (server tools): the last one
		// is the total; a gateway that adds them double-counts.
		first := map[string]any{"type": "message_delta", "delta": map[string]any{"stop_reason": nil, "stop_sequence": nil},
			"usage": map[string]any{"input_tokens": u.Input, "cache_creation_input_tokens": u.CacheWrite,
				"cache_read_input_tokens": u.CachedInput, "output_tokens": u.Output / 2}}
		s.frame("message_delta", mustJSON(first))
		md["usage"] = fullUsage
	}
	s.frame("message_delta", mustJSON(md))
	s.frame("message_stop", []byte(`{"type":"message_stop"}`))
}

func (x *exchange) anthropicError(status int, typ, msg string) {
	if x.sc.RetryAfter > 0 {
		x.w.Header().Set("Retry-After", itoa(x.sc.RetryAfter))
	}
	x.json(status, map[string]any{"type": "error", "error": map[string]any{"type": typ, "message": x.errMessage(msg)}})
}
