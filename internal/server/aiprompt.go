package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"gatehouse/internal/ai"
	"gatehouse/internal/domain"
	"gatehouse/internal/pipeline"
	"gatehouse/internal/reason"
)

// maxPromptBody bounds a prompt call's variables.
const maxPromptBody = 1 << 20

// promptRoutes serves routes of type "prompt" (§11): POST a JSON object
// of the prompt's variables; the rendered template becomes the one user
// message of a chat completion on the prompt's model, served by the same
// AI handler as AI routes — so model access, budgets, fallback, usage and
// cost apply unchanged. The caller gets the model's answer, not a chat
// completion: {output, usage, cost, cost_micros, request_id} (promptAnswer).
// Rejections keep the OpenAI error shape of AI routes.
type promptRoutes struct{ h *ai.Handler }

// promptAnswer is a prompt endpoint's 200 body. A prompt endpoint is for
// callers who never wrote a chat request, so it answers the text and the
// bill, not a chat-completion envelope to dig them out of.
type promptAnswer struct {
	// Output is the model's text.
	Output string      `json:"output"`
	Usage  promptUsage `json:"usage"`
	// Cost is the exact cost as a decimal of the currency unit ("0.000270")
	// and CostMicros the same in integer millionths, as on the call record.
	Cost       string `json:"cost"`
	CostMicros int64  `json:"cost_micros"`
	RequestID  string `json:"request_id"`
}

// promptUsage names token counts as the model prices do (input, cached
// input, output per 1M). InputTokens includes the cached ones and
// OutputTokens any reasoning tokens, as providers bill them; Estimated
// says the provider reported no usage and the gateway counted.
type promptUsage struct {
	InputTokens       int64 `json:"input_tokens"`
	CachedInputTokens int64 `json:"cached_input_tokens"`
	OutputTokens      int64 `json:"output_tokens"`
	Estimated         bool  `json:"estimated"`
}

func (p promptRoutes) ServeRoute(w http.ResponseWriter, r *http.Request, rc *pipeline.RouteCall) {
	cc := aiCallContext(rc)
	reject := func(e *reason.Error) {
		e.Write(w, reason.Render{OpenAI: true, RequestID: cc.RequestID, Instance: r.URL.Path})
		rc.Call.Status, rc.Call.Code, rc.Call.Engine = e.View(false).Status, e.Code, "ai"
		traceRejection(rc.Trace, pipeline.StageForward, "prompt", e)
		rc.Rejected = e
	}
	if r.Method != http.MethodPost {
		reject(&reason.Error{Code: reason.MethodNotAllowed, Allow: http.MethodPost,
			Detail: fmt.Sprintf("A prompt endpoint takes POST with its variables as a JSON object, not %s.", r.Method)})
		return
	}
	prompt, ok := aiIndexOf(rc.Snap).prompts[rc.Route.PromptID]
	if !ok {
		reject(&reason.Error{Code: reason.UpstreamUnavailable,
			Detail: "This prompt endpoint's template is not available.",
			Debug:  fmt.Sprintf("route %s names prompt %q, absent from the snapshot", rc.Route.ID, rc.Route.PromptID)})
		return
	}
	limit := int64(maxPromptBody)
	if m := rc.Route.MaxBody; m > 0 && m < limit {
		limit = m
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			reject(&reason.Error{Code: reason.RequestTooLarge, Detail: fmt.Sprintf("Prompt variables are limited to %d bytes.", limit)})
		} else {
			reject(&reason.Error{Code: ai.CodeBadRequest, Param: "body", Possession: true, Detail: "The request body could not be read."})
		}
		return
	}
	vars, rerr := decodeVariables(body)
	if rerr != nil {
		reject(rerr)
		return
	}
	text, err := prompt.Render(vars)
	if err != nil {
		var ve *domain.VariableError
		if errors.As(err, &ve) {
			reject(&reason.Error{Code: ai.CodeBadRequest, Param: ve.Name, Possession: true, Detail: "Variable " + strings.TrimPrefix(ve.Error(), "variable ") + "."})
		} else {
			reject(&reason.Error{Code: ai.CodeBadRequest, Param: "body", Possession: true, Detail: "The variables could not be rendered into the prompt.", Err: err})
		}
		return
	}
	chat, err := json.Marshal(map[string]any{"model": prompt.Model,
		"messages": []map[string]string{{"role": "user", "content": text}}})
	if err != nil {
		reject(&reason.Error{Code: ai.CodeBadRequest, Param: "body", Possession: true, Detail: "The rendered prompt could not be encoded.", Err: err})
		return
	}
	inner, err := http.NewRequestWithContext(r.Context(), http.MethodPost,
		strings.TrimRight(cc.Prefix, "/")+"/v1/chat/completions", bytes.NewReader(chat))
	if err != nil {
		reject(&reason.Error{Code: ai.CodeBadRequest, Param: "body", Possession: true, Detail: "The prompt call could not be built.", Err: err})
		return
	}
	inner.Header.Set("Content-Type", "application/json")
	inner.RemoteAddr = r.RemoteAddr
	// The completion is never streamed, so holding it is bounded by the
	// handler's MaxResponse; headers (X-Request-Id, Retry-After…) go
	// straight to the real response.
	buf := &heldResponse{header: w.Header()}
	res := p.h.Serve(buf, inner, cc)
	switch {
	case buf.status == 0: // the client left before an answer
	case buf.status != http.StatusOK: // a rejection: already in the OpenAI error shape
		w.WriteHeader(buf.status)
		n, _ := w.Write(buf.body.Bytes())
		rc.Call.BytesOut = int64(n)
	default:
		out, err := promptOutput(buf.body.Bytes(), res, cc.RequestID)
		if err != nil {
			e := &reason.Error{Code: reason.GatewayInternal, Err: err}
			res.Err, res.Status = e, e.View(false).Status
			w.Header().Del("Content-Length")
			e.Write(w, reason.Render{OpenAI: true, RequestID: cc.RequestID, Instance: r.URL.Path})
			break
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(out)))
		w.WriteHeader(http.StatusOK)
		n, _ := w.Write(out)
		rc.Call.BytesOut = int64(n)
	}
	recordAI(rc, res)
}

// promptOutput turns the handler's chat completion into the prompt
// answer; usage and cost come from the Result, which holds the
// provider's numbers and the exact cost.
func promptOutput(completion []byte, res ai.Result, requestID string) ([]byte, error) {
	var c struct {
		Choices []struct {
			Message struct {
				Content *string `json:"content"`
			} `json:"message"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(completion, &c); err != nil {
		return nil, fmt.Errorf("prompt: reading the chat completion: %w", err)
	}
	a := promptAnswer{Cost: res.Cost.String(), CostMicros: int64(res.Cost), RequestID: requestID,
		Usage: promptUsage{InputTokens: res.Usage.PromptTokens, CachedInputTokens: res.Usage.CachedPromptTokens,
			OutputTokens: res.Usage.CompletionTokens, Estimated: res.Usage.Estimated}}
	if len(c.Choices) > 0 && c.Choices[0].Message.Content != nil {
		a.Output = *c.Choices[0].Message.Content
	}
	return json.Marshal(&a)
}

// heldResponse holds the AI handler's answer to a prompt call so it can
// be reshaped before the client sees it.
type heldResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (h *heldResponse) Header() http.Header { return h.header }

func (h *heldResponse) WriteHeader(status int) {
	if h.status == 0 {
		h.status = status
	}
}

func (h *heldResponse) Write(b []byte) (int, error) {
	h.WriteHeader(http.StatusOK)
	return h.body.Write(b)
}

// decodeVariables reads a JSON object keeping numbers' exact text, as
// domain.Prompt.Render expects.
func decodeVariables(body []byte) (map[string]any, *reason.Error) {
	bad := &reason.Error{Code: ai.CodeBadRequest, Param: "body", Possession: true,
		Detail: "The body must be a JSON object of the prompt's variables."}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var vars map[string]any
	if err := dec.Decode(&vars); err != nil || vars == nil {
		return nil, bad
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, bad
	}
	return vars, nil
}

// indexPrompts fills x.prompts by id.
func (x *aiIndex) indexPrompts(ps []domain.Prompt) {
	x.prompts = make(map[string]domain.Prompt, len(ps))
	for _, p := range ps {
		x.prompts[p.ID] = p
	}
}
