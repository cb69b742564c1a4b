package aitest

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// gemini answers /v1beta/models/{model}:generateContent,
// :streamGenerateContent (SSE with ?alt=sse, else one JSON array) and
// :batchEmbedContents; the key comes in x-goog-api-key (or ?key=, which
// real Gemini accepts and the fake records so tests can prove the gateway
// never uses it).
func (x *exchange) gemini() {
	rest, ok := strings.CutPrefix(x.req.Path, "/v1beta/models/")
	model, method, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || x.r.Method != http.MethodPost {
		x.geminiError(http.StatusNotFound, "NOT_FOUND", "Requested entity was not found.")
		return
	}
	k := x.r.Header.Get("X-Goog-Api-Key")
	if k == "" {
		k = x.r.URL.Query().Get("key")
	}
	if !x.accepted(k) {
		x.geminiError(http.StatusBadRequest, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.")
		return
	}
	switch method {
	case "generateContent":
		x.geminiGenerate(model, false)
	case "streamGenerateContent":
		x.geminiGenerate(model, true)
	case "batchEmbedContents":
		x.geminiEmbed(model)
	default:
		x.geminiError(http.StatusNotFound, "NOT_FOUND", "Requested entity was not found.")
	}
}

func (x *exchange) geminiError(code int, status, msg string) {
	if x.sc.RetryAfter > 0 {
		x.w.Header().Set("Retry-After", itoa(x.sc.RetryAfter))
	}
	x.json(code, map[string]any{"error": map[string]any{"code": code, "message": x.errMessage(msg), "status": status}})
}

// geminiReq accepts camelCase and the snake_case proto-JSON aliases.
type geminiReq struct {
	Contents []struct {
		Role  string            `json:"role"`
		Parts []json.RawMessage `json:"parts"`
	} `json:"contents"`
}

func (x *exchange) geminiGenerate(model string, stream bool) {
	var req geminiReq
	if err := json.Unmarshal(x.req.Body, &req); err != nil {
		x.geminiError(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
		return
	}
	if len(req.Contents) == 0 {
		x.geminiError(400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents is not specified")
		return
	}
	for _, c := range req.Contents {
		if c.Role != "" && c.Role != "user" && c.Role != "model" && c.Role != "function" {
			x.geminiError(400, "INVALID_ARGUMENT", `Please use a valid role: user, model.`)
			return
		}
		if len(c.Parts) == 0 {
			x.geminiError(400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents.parts: contents.parts must not be empty.")
			return
		}
	}
	if x.sc.Status != 0 {
		status := map[int]string{400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
			429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}[x.sc.Status]
		if status == "" {
			status = "INTERNAL"
		}
		x.geminiError(x.sc.Status, status, "Resource has been exhausted (e.g. check quota).")
		return
	}
	m := x.model(model)
	u := x.sc.Usage
	usage := func(out, thoughts int64) map[string]any {
		um := map[string]any{"promptTokenCount": u.Input, "candidatesTokenCount": out, "totalTokenCount": u.Input + out + thoughts}
		if u.CachedInput > 0 {
			um["cachedContentTokenCount"] = u.CachedInput
		}
		if thoughts > 0 {
			um["thoughtsTokenCount"] = thoughts
		}
		return um
	}
	var calls []any
	for _, tc := range x.sc.ToolCalls {
		calls = append(calls, map[string]any{"functionCall": map[string]any{"name": tc.Name, "args": json.RawMessage(tc.Args)}})
	}
	rid := "resp-" + x.id
	if !stream {
		if x.sc.Broken {
			x.json(http.StatusOK, map[string]any{})
			return
		}
		var parts []any
		if x.sc.Reasoning != "" {
			parts = append(parts, map[string]any{"text": x.sc.Reasoning, "thought": true})
		}
		if t := x.text(); t != "" {
			parts = append(parts, map[string]any{"text": t})
		}
		parts = append(parts, calls...)
		resp := map[string]any{"candidates": []any{map[string]any{"content": map[string]any{"role": "model", "parts": parts},
			"finishReason": "STOP", "index": 0}}, "modelVersion": m, "responseId": rid}
		if x.sc.NoModel {
			delete(resp, "modelVersion")
		}
		if x.sc.UsageMode != UsageAbsent {
			resp["usageMetadata"] = usage(u.Output, u.Reasoning)
		}
		x.json(http.StatusOK, resp)
		return
	}
	// Frames: thought, text pieces, function calls (whole), then the
	// finishReason on the last frame.
	var frames [][]any
	if x.sc.Reasoning != "" {
		frames = append(frames, []any{map[string]any{"text": x.sc.Reasoning, "thought": true}})
	}
	for _, c := range x.chunks() {
		frames = append(frames, []any{map[string]any{"text": c}})
	}
	if len(calls) > 0 {
		frames = append(frames, calls)
	}
	if len(frames) == 0 {
		frames = append(frames, []any{map[string]any{"text": ""}})
	}
	sse := x.r.URL.Query().Get("alt") == "sse"
	var s *sseWriter
	if sse {
		s = x.sseStart()
	} else {
		x.w.Header().Set("Content-Type", "application/json")
		x.w.WriteHeader(http.StatusOK)
		_, _ = x.w.Write([]byte("["))
	}
	emit := func(i int, v map[string]any) {
		b := mustJSON(v)
		if sse {
			s.frame("", b)
			return
		}
		if i > 0 {
			_, _ = x.w.Write([]byte(",\r\n"))
		}
		_, _ = x.w.Write(b)
		x.w.(http.Flusher).Flush()
	}
	errFrame := func() {
		emit(1, map[string]any{"error": map[string]any{"code": 503, "message": x.errMessage("The model is overloaded. Please try again later."), "status": "UNAVAILABLE"}})
	}
	if sse && x.failNow(s, -1, errFrame) {
		return
	}
	created := time.Date(2024, 11, 15, 9, 0, 0, 0, time.UTC).Format(time.RFC3339)
	n := int64(len(frames))
	for i, parts := range frames {
		if sse && x.failNow(s, i, errFrame) {
			return
		}
		f := map[string]any{"responseId": rid, "createTime": created, "modelVersion": m,
			"candidates": []any{map[string]any{"content": map[string]any{"parts": parts, "role": "model"}, "index": 0}}}
		if x.sc.NoModel {
			delete(f, "modelVersion")
		}
		last := i == len(frames)-1
		if last {
			f["candidates"].([]any)[0].(map[string]any)["finishReason"] = "STOP"
		}
		switch {
		case x.sc.UsageMode == UsageEveryChunk:
			k := int64(i + 1)
			f["usageMetadata"] = usage(u.Output*k/n, u.Reasoning*k/n)
		case x.sc.UsageMode == UsageFinal && last:
			f["usageMetadata"] = usage(u.Output, u.Reasoning)
		}
		if last && sse && x.sc.Fail != FailNone && x.sc.FailAt >= len(frames) {
			// A failure requested after every frame: drop the finish.
			delete(f["candidates"].([]any)[0].(map[string]any), "finishReason")
			s.frame("", mustJSON(f))
			x.failNow(s, x.sc.FailAt, errFrame)
			return
		}
		for _, p := range parts {
			if pm, ok := p.(map[string]any); ok {
				if t, ok := pm["text"].(string); ok && pm["thought"] == nil {
					pm["text"] = x.piece(t)
				}
			}
		}
		emit(i, f)
	}
	if !sse {
		_, _ = x.w.Write([]byte("]"))
	}
}

func (x *exchange) geminiEmbed(model string) {
	var req struct {
		Requests []struct {
			Model   string `json:"model"`
			Content struct {
				Parts []struct {
					Text string `json:"text"`
				} `json:"parts"`
			} `json:"content"`
			OutputDimensionality int `json:"outputDimensionality"`
		} `json:"requests"`
	}
	if err := json.Unmarshal(x.req.Body, &req); err != nil || len(req.Requests) == 0 {
		x.geminiError(400, "INVALID_ARGUMENT", "* BatchEmbedContentsRequest.requests: requests is not specified")
		return
	}
	if x.sc.Status != 0 {
		x.geminiError(x.sc.Status, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).")
		return
	}
	var out []any
	for _, r := range req.Requests {
		if r.Model != "models/"+model {
			x.geminiError(400, "INVALID_ARGUMENT", "* BatchEmbedContentsRequest.model: model must match the request path")
			return
		}
		var text strings.Builder
		for _, p := range r.Content.Parts {
			text.WriteString(p.Text)
		}
		out = append(out, map[string]any{"values": embedding(text.String(), r.OutputDimensionality)})
	}
	x.json(http.StatusOK, map[string]any{"embeddings": out})
}
