package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
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
// cost apply unchanged — and answered in the OpenAI chat-completion
// shape.
type promptRoutes struct{ h *ai.Handler }

func (p promptRoutes) ServeRoute(w http.ResponseWriter, r *http.Request, rc *pipeline.RouteCall) {
	cc := aiCallContext(rc)
	reject := func(e *reason.Error) {
		e.Write(w, reason.Render{OpenAI: true, RequestID: cc.RequestID, Instance: r.URL.Path})
		rc.Call.Status, rc.Call.Code, rc.Call.Engine = e.View(false).Status, e.Code, "ai"
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
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPromptBody))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			reject(&reason.Error{Code: reason.RequestTooLarge, Detail: fmt.Sprintf("Prompt variables are limited to %d bytes.", maxPromptBody)})
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
	recordAI(rc.Call, p.h.Serve(w, inner, cc))
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
