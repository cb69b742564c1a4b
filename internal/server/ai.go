package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"gatehouse/internal/ai"
	"gatehouse/internal/domain"
	"gatehouse/internal/pipeline"
	"gatehouse/internal/reason"
	"gatehouse/internal/snapshot"
	"gatehouse/internal/store"
	"gatehouse/internal/trace"
)

const extAI = "ai"

// aiIndex is an AI route's view of one snapshot: the model catalogue with
// decrypted provider keys, and the per-consumer model allow-lists.
type aiIndex struct {
	catalogue *ai.MemCatalogue
	access    map[string][]string
	budgets   map[string][]domain.Budget // by scope + ":" + scope id
	prompts   map[string]domain.Prompt   // by id
}

// Model implements ai.Catalogue.
func (x *aiIndex) Model(name string) (*ai.Model, bool) { return x.catalogue.Model(name) }

// Models implements ai.Catalogue.
func (x *aiIndex) Models() []*ai.Model { return x.catalogue.Models() }

// aiProviders keeps one *ai.Provider per provider across snapshot builds
// while its configuration is unchanged: it holds the key round-robin.
type aiProviders struct {
	mu   sync.Mutex
	byID map[string]aiProviderEntry
}

type aiProviderEntry struct {
	fingerprint string
	p           *ai.Provider
}

// buildAI compiles the AI catalogue; a provider whose keys cannot be
// opened is left out (and logged), so one bad provider never blocks a
// snapshot.
func (ci *credentialIndex) buildAI(s *snapshot.Snapshot, d *store.Data) {
	ci.aiMu.Lock()
	defer ci.aiMu.Unlock()
	if ci.ai == nil {
		ci.ai = map[string]aiProviderEntry{}
	}
	provs := map[string]*ai.Provider{}
	seen := map[string]bool{}
	for _, p := range d.Providers {
		seen[p.ID] = true
		fp, _ := json.Marshal(struct {
			P    domain.Provider
			Keys []domain.ProviderKey
		}{p, p.Keys})
		if e, ok := ci.ai[p.ID]; ok && e.fingerprint == string(fp) {
			provs[p.ID] = e.p
			continue
		}
		ap := &ai.Provider{Name: p.Name, Type: p.Type, BaseURL: p.BaseURL, APIVersion: p.APIVersion, Deployment: p.Deployments}
		ok := true
		for _, k := range p.Keys {
			key, err := ci.open(k.Sealed)
			if err != nil {
				ci.log.Error("AI provider left out of the snapshot", "provider", p.Name, "err", err)
				ok = false
				break
			}
			ap.APIKeys = append(ap.APIKeys, string(key))
		}
		if !ok {
			continue
		}
		ci.ai[p.ID] = aiProviderEntry{fingerprint: string(fp), p: ap}
		provs[p.ID] = ap
	}
	for id := range ci.ai {
		if !seen[id] {
			delete(ci.ai, id)
		}
	}
	var models []*ai.Model
	for _, m := range d.Models {
		am := &ai.Model{Name: m.Name, Created: m.CreatedAt, MaxOutputTokens: m.MaxOutputTokens,
			Price: ai.Price{InputPer1M: ai.Micros(m.Price.InputPer1M), CachedInputPer1M: ai.Micros(m.Price.CachedInputPer1M),
				OutputPer1M: ai.Micros(m.Price.OutputPer1M), CacheWritePer1M: ai.Micros(m.Price.CacheWritePer1M)}}
		for _, t := range m.Targets {
			if p := provs[t.ProviderID]; p != nil {
				am.Targets = append(am.Targets, ai.Target{Provider: p, Model: t.Model})
			}
		}
		if len(am.Targets) > 0 {
			models = append(models, am)
		}
	}
	cat, err := ai.NewCatalogue(models...)
	if err != nil {
		ci.log.Error("AI catalogue left empty", "err", err)
		cat, _ = ai.NewCatalogue()
	}
	x := &aiIndex{catalogue: cat, access: map[string][]string{}}
	for _, a := range d.AIAccess {
		x.access[a.ConsumerID] = a.Models
	}
	x.indexBudgets(d.Budgets)
	x.indexPrompts(d.Prompts)
	s.SetExt(extAI, x)
}

func aiIndexOf(s *snapshot.Snapshot) *aiIndex {
	if x, ok := s.Ext(extAI).(*aiIndex); ok {
		return x
	}
	cat, _ := ai.NewCatalogue()
	return &aiIndex{catalogue: cat}
}

// aiRoutes serves routes of type "ai" after admission: the OpenAI surface
// in front of the catalogue's providers. It writes its own answers
// (OpenAI-shaped errors included) and fills the call record.
type aiRoutes struct{ h *ai.Handler }

// snapCatalogue makes the request's snapshot the handler's catalogue.
type snapCatalogue struct{ holder *snapshot.Holder }

func (c snapCatalogue) Model(name string) (*ai.Model, bool) {
	return aiIndexOf(c.holder.Load()).Model(name)
}

func (c snapCatalogue) Models() []*ai.Model { return aiIndexOf(c.holder.Load()).Models() }

func (a aiRoutes) ServeRoute(w http.ResponseWriter, r *http.Request, rc *pipeline.RouteCall) {
	cw := countingWriter{ResponseWriter: w}
	res := a.h.Serve(&cw, r, aiCallContext(rc))
	rc.Call.BytesOut = cw.n
	recordAI(rc, res)
}

// countingWriter counts the body bytes an AI or prompt answer writes, for
// the call record's bytes_out (§6); it passes Flush on, which streaming
// needs, and Unwrap for http.ResponseController.
type countingWriter struct {
	http.ResponseWriter
	n int64
}

func (c *countingWriter) Write(b []byte) (int, error) {
	n, err := c.ResponseWriter.Write(b)
	c.n += int64(n)
	return n, err
}

func (c *countingWriter) Flush() {
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// aiCallContext is what the AI handler needs of an admitted call.
func aiCallContext(rc *pipeline.RouteCall) ai.CallContext {
	id := rc.Identity
	cc := ai.CallContext{RequestID: rc.Call.RequestID, TenantID: id.Consumer.TenantID, ConsumerID: id.Consumer.ID,
		CredentialID: id.CredentialID, AllowedModels: aiIndexOf(rc.Snap).access[id.Consumer.ID]}
	if len(rc.Route.Paths) > 0 {
		cc.Prefix = rc.Route.Paths[0]
	}
	cc.MaxBody = rc.Route.MaxBody
	to := rc.Route.Service.Timeouts
	cc.FirstByteTimeout, cc.IdleTimeout = to.Response.D(), to.Read.D()
	return cc
}

// recordAI puts an AI call's outcome on its call record and its steps in
// the decision trace, and reports a rejection or failure to the pipeline
// (which logs it and keeps the trace): which model was asked for and what
// it resolved to, a budget or rate refusal under the limit stage, and
// every provider attempt with its status and (redacted) error — so
// explain shows why an AI call failed without a search through the logs.
func recordAI(rc *pipeline.RouteCall, res ai.Result) {
	c := rc.Call
	c.Status = res.Status
	c.Engine = "ai"
	// The upstream's share of the latency (§6): the providers' time to
	// the first byte, every attempt's included.
	if res.TimeToFirstByte > 0 {
		c.UpstreamMicros = res.TimeToFirstByte.Microseconds()
	}
	if res.Err != nil {
		c.Code = res.Err.Code
	}
	if res.Alias != "" || res.Provider != "" || res.Usage.TotalTokens > 0 {
		ca := &domain.CallAI{Provider: res.Provider, Model: res.Model, Alias: res.Alias,
			PromptTokens: res.Usage.PromptTokens, CachedTokens: res.Usage.CachedPromptTokens,
			CompletionTokens: res.Usage.CompletionTokens, ReasoningTokens: res.Usage.ReasoningTokens,
			CostMicros: int64(res.Cost), Estimated: res.Usage.Estimated}
		for _, at := range res.Attempts {
			ca.Attempts = append(ca.Attempts, attemptText(at))
		}
		c.AI = ca
	}
	traceAI(rc, res)
	if res.Err != nil {
		rc.Rejected = res.Err
	}
}

// attemptText is one provider attempt as the call record and the trace
// show it: "openai/gpt-4o: error (HTTP 500: upstream overloaded, 1.2s)".
func attemptText(at ai.Attempt) string {
	s := at.Provider + "/" + at.Model + ": " + at.Outcome
	var more []string
	if at.Status != 0 {
		more = append(more, "HTTP "+strconv.Itoa(at.Status))
	}
	if at.Error != "" {
		more = append(more, at.Error)
	}
	if at.Duration > 0 {
		more = append(more, at.Duration.Round(time.Millisecond).String())
	}
	if at.FellBack {
		more = append(more, "fell back to the next target")
	}
	if len(more) > 0 {
		s += " (" + strings.Join(more, ", ") + ")"
	}
	return s
}

// traceAI records the AI handler's steps. The handler refuses in this
// order: the request (ai.bad_request), the model (ai.model_unknown,
// ai.model_not_allowed), the budgets and AI rate limits (budget.exceeded,
// rate.exceeded), then the providers; a step for each stage it passed.
func traceAI(rc *pipeline.RouteCall, res ai.Result) {
	t := rc.Trace
	if t == nil {
		return
	}
	code := ""
	if res.Err != nil {
		code = res.Err.Code
	}
	switch code {
	case ai.CodeBadRequest, ai.CodeModelUnknown, ai.CodeModelNotAllowed:
		traceRejection(t, pipeline.StageForward, "ai model", res.Err)
		return
	}
	if res.Alias != "" {
		if res.Provider != "" && res.Model != res.Alias {
			t.Pass(pipeline.StageForward, "ai model", res.Alias+" → "+res.Provider+"/"+res.Model)
		} else {
			t.Pass(pipeline.StageForward, "ai model", res.Alias)
		}
	}
	switch code {
	case reason.BudgetExceeded, reason.RateExceeded:
		traceRejection(t, pipeline.StageLimit, "ai budget", res.Err)
		return
	}
	for _, at := range res.Attempts {
		if at.Outcome == ai.OutcomeOK {
			t.Pass(pipeline.StageForward, "ai provider", attemptText(at))
		} else {
			t.Fail(pipeline.StageForward, "ai provider", attemptText(at))
		}
	}
	if res.Err != nil {
		traceRejection(t, pipeline.StageForward, "ai", res.Err)
	}
}

// traceRejection records a route handler's rejection e: the caller's
// detail as the failing step, the operator's (Debug) beside it.
func traceRejection(t *trace.Trace, stage, check string, e *reason.Error) {
	t.Fail(stage, check, e.Detail)
	if e.Debug != "" {
		t.Private(stage, check, domain.OutcomeFail, e.Debug)
	}
}
