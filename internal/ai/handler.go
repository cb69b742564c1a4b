// Package ai is Gatehouse's AI gateway: one OpenAI-compatible endpoint
// (chat completions with streaming, embeddings, models) in front of OpenAI,
// OpenAI-compatible servers, Anthropic, Gemini and Azure OpenAI (§11).
//
// The pipeline authenticates the caller and then hands an AI route's
// request to Handler.Serve with the caller's identity (CallContext). Serve
// resolves the model alias in the Catalogue, checks the caller may use it,
// translates the request for each target in turn (falling back on 429, 5xx
// and timeouts until the first byte reached the client, never after),
// translates the answer back, and returns a Result naming every attempt,
// the usage the provider reported (or an estimate, marked so) and its exact
// cost. Errors are written in the OpenAI shape carrying the reason code and
// request ID, so OpenAI SDKs surface them.
//
// Provider keys travel only in the provider's auth header; they are never
// logged, returned, put in a URL, or left in a provider error text that
// reaches a caller, a log line or a Result.
//
// Usage and cost: the provider's numbers, mapped to OpenAI's sense (prompt
// includes cached and cache-write tokens, completion includes reasoning
// tokens). For OpenAI-type providers a stream always asks
// stream_options.include_usage upstream; the client sees the usage chunk
// only if it asked, and cumulative usage repeated on content chunks is
// reduced to that one chunk (SDK accumulators add every usage they see).
// Anthropic's message_delta usage is cumulative: the last one is taken.
// When a count is missing (no usage at all, or a stream cut short by the
// client or the provider), it is estimated — EstimateTokens over the
// request's messages (+4 per message) and over the text actually received
// — and Usage.Estimated says so. Price.Cost turns usage into exact
// micro-units, rounding half-up once.
//
// Wiring (the integrator): build Providers (keys decrypted) and Models
// into a Catalogue (NewCatalogue, or the snapshot implementing the
// interface; DefaultPrice for unpriced models), create one Handler with
// New, and for routes of type "ai" call Serve after authentication with
// the caller's CallContext (request ID, consumer, allowed models, route
// prefix); record the returned Result on the call record (provider,
// model, tokens, cost, attempts). Budgets, RPM and TPM plug in through
// Options.Budget: Reserve runs after the model is resolved and before any
// provider is contacted; its settle func receives the final Result.
package ai

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"gatehouse/internal/ai/sse"
	"gatehouse/internal/clock"
	"gatehouse/internal/reason"
)

// Reason codes of AI routes (§5).
const (
	CodeModelUnknown    = reason.AIModelUnknown
	CodeModelNotAllowed = "ai.model_not_allowed"
	CodeProviderError   = "ai.provider_error"
	CodeBadRequest      = reason.AIBadRequest
)

// Endpoints, as Result.Endpoint.
const (
	EndpointChat       = "chat.completions"
	EndpointEmbeddings = "embeddings"
	EndpointModels     = "models"
)

// Attempt outcomes.
const (
	OutcomeOK = "ok"
	// OutcomeError: the provider answered an error status or a broken body.
	OutcomeError = "error"
	// OutcomeTimeout: no first byte (or no next event) within the timeout.
	OutcomeTimeout = "timeout"
	// OutcomeUnreachable: connection refused, reset or similar.
	OutcomeUnreachable = "unreachable"
	// OutcomeStreamError: the stream failed after its first byte reached
	// the client; passed through as an SSE error event, never retried.
	OutcomeStreamError = "stream_error"
	// OutcomeClientClosed: the client went away during the attempt.
	OutcomeClientClosed = "client_closed"
)

// StatusClientClosed is Result.Status when the client disconnected before
// any response was written (nginx's 499).
const StatusClientClosed = 499

// CallContext is what the pipeline knows about the authenticated call.
type CallContext struct {
	RequestID    string
	TenantID     string
	ConsumerID   string
	CredentialID string
	// AllowedModels restricts the consumer to these model names; empty
	// allows every model; "prefix*" allows a prefix.
	AllowedModels []string
	// Prefix is the route's path prefix ("/ai"): requests arrive as
	// {Prefix}/v1/chat/completions and so on.
	Prefix string
	// MaxBody is the route's max_body (0: none): the body limit is the
	// smaller of it and Options.MaxBody, however the body is framed — a
	// chunked body has no Content-Length for the pipeline to check.
	MaxBody int64
	// FirstByteTimeout and IdleTimeout are the service's own (its
	// timeouts.response and timeouts.read; 0: Options'), so a provider
	// that accepts and never answers is given up on — and the next
	// target tried — within the time the operator set for the service.
	FirstByteTimeout, IdleTimeout time.Duration
}

func (c *CallContext) firstByte(o *Options) time.Duration {
	if c.FirstByteTimeout > 0 {
		return c.FirstByteTimeout
	}
	return o.FirstByteTimeout
}

func (c *CallContext) idle(o *Options) time.Duration {
	if c.IdleTimeout > 0 {
		return c.IdleTimeout
	}
	return o.IdleTimeout
}

// Attempt is one try of one target.
type Attempt struct {
	Provider string
	Model    string
	// KeyIndex is the position of the provider key used (never the key).
	KeyIndex int
	// Status is the provider's HTTP status (0: no response).
	Status  int
	Outcome string
	// Error is the redacted provider error or transport failure.
	Error    string
	Duration time.Duration
	// FellBack is true when the next target was tried after this one.
	FellBack bool
}

// Result is what the pipeline records about an AI call: the call record's
// provider, model, tokens and cost, and the operator's view of every
// attempt. It never holds a provider key.
type Result struct {
	Endpoint string
	// Alias is the model the client asked for.
	Alias string
	// Provider and Model name the target that answered (or was tried last).
	Provider string
	Model    string
	Stream   bool
	Attempts []Attempt
	Usage    Usage
	Cost     Micros
	// Status is the HTTP status written to the client (200 for a stream
	// that failed after its first byte; StatusClientClosed when the
	// client left before anything was written).
	Status int
	// Err is the rejection or failure, if any (also set for a stream
	// that failed after its first byte).
	Err          *reason.Error
	ClientClosed bool
	// TimeToFirstByte is from Serve's start to the first byte written.
	TimeToFirstByte time.Duration
	Duration        time.Duration
}

// Budget reserves before a call is dispatched and settles after (the hook
// for issue 8's budgets, RPM and TPM). Reserve is called once the model is
// resolved and allowed, with the worst case the call can cost; a
// *reason.Error (budget.exceeded, rate.exceeded) rejects the call before
// any provider is contacted. The returned settle func is called exactly
// once, with the final Result (actual usage and cost — also after a client
// disconnect or a provider failure), on a context that outlives the
// request.
type Budget interface {
	Reserve(ctx context.Context, call CallContext, r Reservation) (settle func(context.Context, Result), err *reason.Error)
}

// Reservation is the worst case of one call: the estimated prompt plus the
// request's max_tokens (or the model's MaxOutputTokens), priced.
type Reservation struct {
	Model    *Model
	Endpoint string
	Usage    Usage
	Cost     Micros
}

// Options configure a Handler.
type Options struct {
	Catalogue Catalogue
	// Client sends provider requests; nil uses a pooled default. Redirects
	// are never followed, whatever the client says: a redirect would carry
	// the provider key (x-api-key, api-key, x-goog-api-key are not among
	// the headers Go strips) to another host.
	Client *http.Client
	Clock  clock.Clock
	Logger *slog.Logger
	Budget Budget // nil: no budgets
	// FirstByteTimeout bounds each attempt until its first byte (for a
	// non-streamed call: until its whole answer); past it the next target
	// is tried. Default 5m.
	FirstByteTimeout time.Duration
	// IdleTimeout bounds the wait for each further stream event. Default 2m.
	IdleTimeout time.Duration
	// MaxBody bounds a request body (images travel inline). Default 32 MiB.
	MaxBody int64
	// MaxResponse bounds a non-streamed provider answer. Default 64 MiB.
	MaxResponse int64
}

// Handler serves AI routes.
type Handler struct {
	o      Options
	client *http.Client
	log    *slog.Logger
	clock  clock.Clock
}

// New returns a Handler.
func New(o Options) (*Handler, error) {
	if o.Catalogue == nil {
		return nil, errors.New("ai: a Catalogue is required")
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.FirstByteTimeout <= 0 {
		o.FirstByteTimeout = 5 * time.Minute
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 2 * time.Minute
	}
	if o.MaxBody <= 0 {
		o.MaxBody = 32 << 20
	}
	if o.MaxResponse <= 0 {
		o.MaxResponse = 64 << 20
	}
	var c http.Client
	if o.Client != nil {
		c = *o.Client
	} else {
		c.Transport = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          256,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
		}
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.Timeout = 0 // per-attempt timeouts are ours; a client timeout would cut long streams
	return &Handler{o: o, client: &c, log: o.Logger, clock: o.Clock}, nil
}

// Serve answers one authenticated request on an AI route and returns what
// happened. It always writes a response (unless the client left first).
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request, call CallContext) Result {
	start := h.clock.Now()
	res := Result{}
	var settle func(*Result) // the budget's settlement, once the Result is complete
	path := strings.TrimPrefix(r.URL.Path, strings.TrimRight(call.Prefix, "/"))
	switch {
	case path == "/v1/chat/completions":
		res.Endpoint = EndpointChat
		if h.method(w, r, call, &res, http.MethodPost) {
			h.chat(w, r, call, &res, start, &settle)
		}
	case path == "/v1/embeddings":
		res.Endpoint = EndpointEmbeddings
		if h.method(w, r, call, &res, http.MethodPost) {
			h.embeddings(w, r, call, &res, start, &settle)
		}
	case path == "/v1/models" || strings.HasPrefix(path, "/v1/models/"):
		res.Endpoint = EndpointModels
		if h.method(w, r, call, &res, http.MethodGet) {
			h.models(w, r, call, &res, strings.TrimPrefix(strings.TrimPrefix(path, "/v1/models"), "/"))
		}
	default:
		h.reject(w, r, call, &res, &reason.Error{Code: reason.RouteNotFound,
			Detail: "This AI route serves POST /v1/chat/completions, POST /v1/embeddings and GET /v1/models under " + strings.TrimRight(call.Prefix, "/") + "."})
	}
	res.Duration = h.clock.Now().Sub(start)
	if settle != nil {
		settle(&res)
	}
	return res
}

func (h *Handler) method(w http.ResponseWriter, r *http.Request, call CallContext, res *Result, want string) bool {
	if r.Method == want {
		return true
	}
	h.reject(w, r, call, res, &reason.Error{Code: reason.MethodNotAllowed, Allow: want,
		Detail: fmt.Sprintf("%s takes %s, not %s.", r.URL.Path, want, r.Method)})
	return false
}

func (h *Handler) reject(w http.ResponseWriter, r *http.Request, call CallContext, res *Result, e *reason.Error) {
	e.Write(w, reason.Render{OpenAI: true, RequestID: call.RequestID, Instance: r.URL.Path})
	res.Status = e.View(false).Status
	res.Err = e
}

func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, call CallContext) ([]byte, *reason.Error) {
	limit := h.o.MaxBody
	if call.MaxBody > 0 && call.MaxBody < limit {
		limit = call.MaxBody
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, &reason.Error{Code: reason.RequestTooLarge, Detail: fmt.Sprintf("The body exceeds this route's limit of %d bytes.", limit)}
		}
		return nil, badRequest("body", "The request body could not be read.")
	}
	return body, nil
}

// resolve finds the model and checks the caller may use it.
func (h *Handler) resolve(name string, call CallContext) (*Model, *reason.Error) {
	m, ok := h.o.Catalogue.Model(name)
	if !ok {
		return nil, &reason.Error{Code: CodeModelUnknown, Param: "model", Possession: true,
			Detail: fmt.Sprintf("No model named %q in this gateway's catalogue.", name)}
	}
	if !allowed(call.AllowedModels, name) {
		return nil, &reason.Error{Code: CodeModelNotAllowed, Param: "model", Possession: true,
			Detail: fmt.Sprintf("This application may not use model %q.", name)}
	}
	return m, nil
}

// reserve calls the budget hook; the returned settle is never nil.
func (h *Handler) reserve(r *http.Request, call CallContext, m *Model, endpoint string, u Usage) (func(*Result), *reason.Error) {
	if h.o.Budget == nil {
		return func(*Result) {}, nil
	}
	settle, err := h.o.Budget.Reserve(r.Context(), call, Reservation{Model: m, Endpoint: endpoint, Usage: u, Cost: m.Price.Cost(u)})
	if err != nil {
		return nil, err
	}
	if settle == nil {
		return func(*Result) {}, nil
	}
	ctx := context.WithoutCancel(r.Context())
	return func(res *Result) { settle(ctx, *res) }, nil
}

// newID returns prefix + 24 random hex digits (tool-call and completion
// ids the gateway must invent for Gemini).
func newID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

var errFirstByteTimeout = errors.New("no answer within the first-byte timeout")

// failure is why an attempt did not answer.
type failure struct {
	outcome   string
	status    int
	perr      providerError
	retryAt   int // Retry-After seconds, 0: none
	retryable bool
	final     *reason.Error // a rejection to pass on as is (translation refused the request)
}

func (h *Handler) chat(w http.ResponseWriter, r *http.Request, call CallContext, res *Result, start time.Time, after *func(*Result)) {
	body, rerr := h.readBody(w, r, call)
	if rerr != nil {
		h.reject(w, r, call, res, rerr)
		return
	}
	req, rerr := parseChat(body)
	if rerr != nil {
		h.reject(w, r, call, res, rerr)
		return
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(body, &raw) // parseChat proved it is an object
	res.Alias, res.Stream = req.Model, req.Stream
	model, rerr := h.resolve(req.Model, call)
	if rerr != nil {
		h.reject(w, r, call, res, rerr)
		return
	}
	c := &chatCall{req: req, raw: raw, includeUsage: req.includeUsage(), created: start.Unix(), newID: newID, maxOutput: model.maxOutput()}
	promptEst := estimatePrompt(req)
	maxOut := req.maxTokens()
	if maxOut == 0 {
		maxOut = model.maxOutput()
	}
	n := int64(1)
	if req.N != nil {
		n = int64(*req.N)
	}
	settle, rerr := h.reserve(r, call, model, EndpointChat, Usage{PromptTokens: promptEst, CompletionTokens: maxOut * n,
		TotalTokens: promptEst + maxOut*n, Estimated: true})
	if rerr != nil {
		h.reject(w, r, call, res, rerr)
		return
	}
	*after = settle
	defer func() { res.Cost = model.Price.Cost(res.Usage) }()

	var last *failure
	for i, t := range model.Targets {
		more := i < len(model.Targets)-1
		f := h.chatAttempt(w, r, call, res, start, t, c, promptEst)
		if f == nil {
			return // answered (possibly with a failure after the first byte, already written)
		}
		last = f
		att := &res.Attempts[len(res.Attempts)-1]
		if f.outcome == OutcomeClientClosed {
			res.ClientClosed, res.Status = true, StatusClientClosed
			res.Usage = Usage{PromptTokens: promptEst, TotalTokens: promptEst, Estimated: true}
			return
		}
		if f.final != nil {
			h.reject(w, r, call, res, f.final)
			return
		}
		if f.retryable && more {
			att.FellBack = true
			continue
		}
		break
	}
	h.reject(w, r, call, res, h.failureError(res, last))
}

// misconfigured records a target the catalogue should never have let
// through (the integrator's Catalogue may not validate like NewCatalogue):
// an attempt that failed without a request, and the next target is tried.
func (h *Handler) misconfigured(res *Result, t Target) *failure {
	err := validTarget(t)
	if err == nil {
		return nil
	}
	name := ""
	if t.Provider != nil {
		name = t.Provider.Name
	}
	res.Attempts = append(res.Attempts, Attempt{Provider: name, Model: t.Model, KeyIndex: -1, Outcome: OutcomeError,
		Error: "misconfigured target: " + err.Error()})
	h.log.Error("ai target misconfigured", slog.String("provider", name), slog.String("model", t.Model), slog.String("error", err.Error()))
	return &failure{outcome: OutcomeError, retryable: true}
}

// failureError is the rejection after the last attempt failed.
func (h *Handler) failureError(res *Result, f *failure) *reason.Error {
	if f == nil { // a model without targets
		f = &failure{}
	}
	var parts, debug []string
	for i, a := range res.Attempts {
		s := a.Outcome
		switch {
		case a.Status >= 200 && a.Status < 300:
			// It answered, but not with what was asked (a plain body to
			// a stream request, or a body that is not an answer).
			s = "HTTP " + strconv.Itoa(a.Status) + " with an answer the gateway could not use"
		case a.Status != 0:
			s = "HTTP " + strconv.Itoa(a.Status)
		}
		parts = append(parts, fmt.Sprintf("target %d: %s", i+1, s))
		debug = append(debug, fmt.Sprintf("%s/%s key#%d %s %d %s", a.Provider, a.Model, a.KeyIndex, a.Outcome, a.Status, a.Error))
	}
	e := &reason.Error{Code: CodeProviderError, Possession: true, RetryAfter: f.retryAt,
		Detail: fmt.Sprintf("No provider of model %q answered (%s).", res.Alias, strings.Join(parts, "; ")),
		Debug:  strings.Join(debug, " | ")}
	switch f.status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		// The provider refused the request itself: the caller can fix it.
		e.Code, e.Param = CodeBadRequest, f.perr.Param
		e.Detail = "The provider rejected the request: " + f.perr.Message
	}
	return e
}

// chatAttempt tries one target. It returns nil when the client got an
// answer (a complete one, or a stream whose later failure was passed on as
// an error event), else why the target failed.
func (h *Handler) chatAttempt(w http.ResponseWriter, r *http.Request, call CallContext, res *Result, start time.Time,
	t Target, c *chatCall, promptEst int64) *failure {
	if f := h.misconfigured(res, t); f != nil {
		return f
	}
	p := t.Provider
	a := adapterFor(p.Type)
	key, ki := p.key()
	res.Provider, res.Model = p.Name, t.Model
	res.Attempts = append(res.Attempts, Attempt{Provider: p.Name, Model: t.Model, KeyIndex: ki})
	att := &res.Attempts[len(res.Attempts)-1]
	t0 := h.clock.Now()
	defer func() { att.Duration = h.clock.Now().Sub(t0) }()

	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	timer := time.AfterFunc(call.firstByte(&h.o), func() { cancel(errFirstByteTimeout) })
	defer timer.Stop()

	c.model = t.Model
	ureq, err := a.chatRequest(ctx, p, t.Model, key, c)
	if err != nil {
		var re *reason.Error
		if errors.As(err, &re) {
			att.Outcome, att.Error = OutcomeError, re.Detail
			return &failure{outcome: OutcomeError, final: re}
		}
		att.Outcome, att.Error = OutcomeError, err.Error()
		return &failure{outcome: OutcomeError, final: &reason.Error{Code: reason.GatewayInternal, Err: err}}
	}
	resp, err := h.client.Do(ureq)
	if err != nil {
		return h.transportFailure(ctx, r, att, p, call, err)
	}
	defer resp.Body.Close()
	att.Status = resp.StatusCode
	if resp.StatusCode != http.StatusOK {
		return h.statusFailure(ctx, att, p, a, call, resp)
	}
	if !c.req.Stream {
		b, err := io.ReadAll(io.LimitReader(resp.Body, h.o.MaxResponse))
		if err != nil {
			return h.transportFailure(ctx, r, att, p, call, err)
		}
		o, err := a.chatResult(b, c)
		if err != nil {
			return h.brokenAnswer(ctx, att, p, call, err)
		}
		timer.Stop()
		u := Usage{}
		if o.usage != nil {
			u = *o.usage
		} else {
			u = Usage{PromptTokens: promptEst, CompletionTokens: (o.runes + 3) / 4, Estimated: true}
			u.TotalTokens = u.PromptTokens + u.CompletionTokens
		}
		res.Usage = u
		h.writeJSON(w, call, res, start, o.body)
		att.Outcome = OutcomeOK
		return nil
	}
	return h.stream(ctx, w, r, call, res, att, p, start, a.stream(c), resp, timer, promptEst)
}

// stream relays one streamed answer. Before the first byte reaches the
// client a failure returns (so the next target may be tried); after it,
// the failure is written as an SSE error event and the stream ends.
func (h *Handler) stream(ctx context.Context, w http.ResponseWriter, r *http.Request, call CallContext, res *Result,
	att *Attempt, p *Provider, start time.Time, tr translator, resp *http.Response, timer *time.Timer, promptEst int64) *failure {
	rd := sse.NewReader(resp.Body, 0)
	fl, _ := w.(http.Flusher)
	st := tr.state()
	var out []byte
	wrote := false
	settleUsage := func() {
		u := st.usage
		if !st.promptKnown {
			u.PromptTokens, u.CachedPromptTokens, u.CacheWriteTokens, u.Estimated = promptEst, 0, 0, true
		}
		if !st.completionKnown {
			u.CompletionTokens, u.ReasoningTokens, u.Estimated = (st.runes+3)/4, 0, true
		}
		if u.Estimated || u.TotalTokens == 0 {
			u.TotalTokens = u.PromptTokens + u.CompletionTokens
		}
		res.Usage = u
	}
	write := func(b []byte) bool {
		if !wrote {
			hd := w.Header()
			hd["Content-Type"] = []string{"text/event-stream"}
			hd["Cache-Control"] = []string{"no-cache"}
			hd["X-Accel-Buffering"] = []string{"no"}
			if call.RequestID != "" {
				hd["X-Request-Id"] = []string{call.RequestID}
			}
			w.WriteHeader(http.StatusOK)
			res.Status = http.StatusOK
			res.TimeToFirstByte = h.clock.Now().Sub(start)
			wrote = true
		}
		if _, err := w.Write(b); err != nil {
			return false
		}
		if fl != nil {
			fl.Flush()
		}
		return true
	}
	for {
		ev, err := rd.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				out, err = tr.end(out[:0])
				if err == nil {
					if len(out) > 0 && !write(out) {
						return h.clientGone(att, res, settleUsage)
					}
					if !wrote { // an empty but complete stream: still an answer
						write(nil)
					}
					att.Outcome = OutcomeOK
					settleUsage()
					return nil
				}
			}
			return h.streamFailure(ctx, r, call, res, att, p, wrote, write, settleUsage, err)
		}
		timer.Reset(call.idle(&h.o))
		out, err = tr.event(ev, out[:0])
		if len(out) > 0 && !write(out) {
			return h.clientGone(att, res, settleUsage)
		}
		if err != nil {
			return h.streamFailure(ctx, r, call, res, att, p, wrote, write, settleUsage, err)
		}
	}
}

func (h *Handler) clientGone(att *Attempt, res *Result, settleUsage func()) *failure {
	att.Outcome = OutcomeClientClosed
	res.ClientClosed = true
	settleUsage()
	return nil
}

// streamFailure handles a stream that broke (read error, timeout, provider
// error event, incomplete stream).
func (h *Handler) streamFailure(ctx context.Context, r *http.Request, call CallContext, res *Result,
	att *Attempt, p *Provider, wrote bool, write func([]byte) bool, settleUsage func(), err error) *failure {
	f := &failure{outcome: OutcomeUnreachable, retryable: true}
	var se *streamError
	switch {
	case r.Context().Err() != nil:
		if wrote {
			return h.clientGone(att, res, settleUsage)
		}
		att.Outcome = OutcomeClientClosed
		return &failure{outcome: OutcomeClientClosed}
	case errors.Is(context.Cause(ctx), errFirstByteTimeout):
		f.outcome, att.Error = OutcomeTimeout, "no stream event within the timeout"
	case errors.As(err, &se):
		f.outcome, f.status, f.perr = OutcomeError, se.status, se.perr
		f.retryable = retryableStatus(se.status)
		att.Error = se.perr.Type + ": " + redact(se.perr.Message, p.APIKeys)
	default:
		att.Error = redact(err.Error(), p.APIKeys)
	}
	att.Outcome = f.outcome
	h.log.LogAttrs(ctx, slog.LevelWarn, "ai stream failed", slog.String("request_id", call.RequestID),
		slog.String("provider", att.Provider), slog.String("model", att.Model), slog.String("outcome", f.outcome),
		slog.Bool("after_first_byte", wrote), slog.String("error", att.Error))
	if !wrote {
		return f
	}
	// After the first byte: pass the failure on in the stream, never retry.
	att.Outcome = OutcomeStreamError
	e := &reason.Error{Code: CodeProviderError, Possession: true,
		Detail: "The provider's stream failed after it started: " + streamFailureText(f, p.APIKeys),
		Debug:  att.Provider + "/" + att.Model + ": " + att.Error}
	res.Err = e
	b := e.Body(reason.Render{OpenAI: true, RequestID: call.RequestID})
	frame := make([]byte, 0, len(b)+16)
	frame = append(frame, "data: "...)
	frame = append(frame, strings.TrimSpace(string(b))...)
	frame = append(frame, "\n\ndata: [DONE]\n\n"...)
	write(frame)
	settleUsage()
	return nil
}

func streamFailureText(f *failure, keys []string) string {
	switch f.outcome {
	case OutcomeTimeout:
		return "no event within the idle timeout."
	case OutcomeError:
		return redact(f.perr.Type+": "+f.perr.Message, keys)
	}
	return "the connection to the provider broke."
}

func retryableStatus(s int) bool { return s == http.StatusTooManyRequests || s >= 500 }

func (h *Handler) transportFailure(ctx context.Context, r *http.Request, att *Attempt, p *Provider, call CallContext, err error) *failure {
	if r.Context().Err() != nil {
		att.Outcome = OutcomeClientClosed
		return &failure{outcome: OutcomeClientClosed}
	}
	f := &failure{outcome: OutcomeUnreachable, retryable: true}
	att.Error = redact(err.Error(), p.APIKeys)
	if errors.Is(context.Cause(ctx), errFirstByteTimeout) {
		f.outcome, att.Error = OutcomeTimeout, "no answer within "+call.firstByte(&h.o).String()
	}
	att.Outcome = f.outcome
	h.log.LogAttrs(ctx, slog.LevelWarn, "ai attempt failed", slog.String("request_id", call.RequestID),
		slog.String("provider", att.Provider), slog.String("model", att.Model), slog.String("outcome", f.outcome),
		slog.String("error", att.Error))
	return f
}

func (h *Handler) statusFailure(ctx context.Context, att *Attempt, p *Provider, a adapter, call CallContext, resp *http.Response) *failure {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	pe := a.errorInfo(b)
	pe.Message = redact(pe.Message, p.APIKeys)
	pe.Type = redact(pe.Type, p.APIKeys)
	f := &failure{outcome: OutcomeError, status: resp.StatusCode, perr: pe, retryable: retryableStatus(resp.StatusCode)}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		f.retryAt = s
	}
	att.Outcome = OutcomeError
	att.Error = strings.TrimPrefix(pe.Type+": "+pe.Message, ": ")
	h.log.LogAttrs(ctx, slog.LevelWarn, "ai attempt failed", slog.String("request_id", call.RequestID),
		slog.String("provider", att.Provider), slog.String("model", att.Model), slog.Int("status", resp.StatusCode),
		slog.String("error", att.Error))
	return f
}

// brokenAnswer is a 200 whose body is not an answer: a provider failure
// (never an empty 200 to the client), and worth trying the next target.
func (h *Handler) brokenAnswer(ctx context.Context, att *Attempt, p *Provider, call CallContext, err error) *failure {
	f := &failure{outcome: OutcomeError, status: http.StatusBadGateway, retryable: true,
		perr: providerError{Message: redact(err.Error(), p.APIKeys), Type: "invalid_response"}}
	var se *streamError
	if errors.As(err, &se) { // an error object inside a 200
		f.perr = providerError{Message: redact(se.perr.Message, p.APIKeys), Type: se.perr.Type}
	}
	att.Outcome, att.Error = OutcomeError, f.perr.Type+": "+f.perr.Message
	h.log.LogAttrs(ctx, slog.LevelWarn, "ai attempt failed", slog.String("request_id", call.RequestID),
		slog.String("provider", att.Provider), slog.String("model", att.Model), slog.Int("status", att.Status),
		slog.String("error", att.Error))
	return f
}

func (h *Handler) writeJSON(w http.ResponseWriter, call CallContext, res *Result, start time.Time, body []byte) {
	hd := w.Header()
	hd["Content-Type"] = []string{"application/json"}
	hd["Content-Length"] = []string{strconv.Itoa(len(body))}
	if call.RequestID != "" {
		hd["X-Request-Id"] = []string{call.RequestID}
	}
	w.WriteHeader(http.StatusOK)
	res.Status = http.StatusOK
	res.TimeToFirstByte = h.clock.Now().Sub(start)
	_, _ = w.Write(body)
}

func (h *Handler) embeddings(w http.ResponseWriter, r *http.Request, call CallContext, res *Result, start time.Time, after *func(*Result)) {
	body, rerr := h.readBody(w, r, call)
	if rerr != nil {
		h.reject(w, r, call, res, rerr)
		return
	}
	req, rerr := parseEmbeddings(body)
	if rerr != nil {
		h.reject(w, r, call, res, rerr)
		return
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(body, &raw)
	res.Alias = req.Model
	model, rerr := h.resolve(req.Model, call)
	if rerr != nil {
		h.reject(w, r, call, res, rerr)
		return
	}
	est := req.inputTokens()
	settle, rerr := h.reserve(r, call, model, EndpointEmbeddings, Usage{PromptTokens: est, TotalTokens: est, Estimated: true})
	if rerr != nil {
		h.reject(w, r, call, res, rerr)
		return
	}
	*after = settle
	defer func() { res.Cost = model.Price.Cost(res.Usage) }()
	e := &embeddingsCall{req: req, raw: raw, created: start.Unix()}
	var last *failure
	served := 0
	for i, t := range model.Targets {
		more := i < len(model.Targets)-1
		f, ok := h.embeddingsAttempt(w, r, call, res, start, t, e, est)
		if !ok {
			continue // this provider type has no embeddings
		}
		served++
		if f == nil {
			return
		}
		last = f
		if f.outcome == OutcomeClientClosed {
			res.ClientClosed, res.Status = true, StatusClientClosed
			return
		}
		if f.final != nil {
			h.reject(w, r, call, res, f.final)
			return
		}
		if f.retryable && more {
			res.Attempts[len(res.Attempts)-1].FellBack = true
			continue
		}
		break
	}
	if served == 0 {
		h.reject(w, r, call, res, badRequest("model", fmt.Sprintf("Model %q is served by providers without an embeddings API.", req.Model)))
		return
	}
	h.reject(w, r, call, res, h.failureError(res, last))
}

func (h *Handler) embeddingsAttempt(w http.ResponseWriter, r *http.Request, call CallContext, res *Result, start time.Time,
	t Target, e *embeddingsCall, est int64) (*failure, bool) {
	if f := h.misconfigured(res, t); f != nil {
		return f, true
	}
	p := t.Provider
	a := adapterFor(p.Type)
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	key, ki := p.key()
	ureq, err := a.embeddingsRequest(ctx, p, t.Model, key, e)
	if errors.Is(err, errNoEmbeddings) {
		return nil, false
	}
	res.Provider, res.Model = p.Name, t.Model
	res.Attempts = append(res.Attempts, Attempt{Provider: p.Name, Model: t.Model, KeyIndex: ki})
	att := &res.Attempts[len(res.Attempts)-1]
	t0 := h.clock.Now()
	defer func() { att.Duration = h.clock.Now().Sub(t0) }()
	if err != nil {
		var re *reason.Error
		if errors.As(err, &re) {
			att.Outcome, att.Error = OutcomeError, re.Detail
			return &failure{outcome: OutcomeError, final: re}, true
		}
		att.Outcome = OutcomeError
		return &failure{outcome: OutcomeError, final: &reason.Error{Code: reason.GatewayInternal, Err: err}}, true
	}
	timer := time.AfterFunc(call.firstByte(&h.o), func() { cancel(errFirstByteTimeout) })
	defer timer.Stop()
	resp, err := h.client.Do(ureq)
	if err != nil {
		return h.transportFailure(ctx, r, att, p, call, err), true
	}
	defer resp.Body.Close()
	att.Status = resp.StatusCode
	if resp.StatusCode != http.StatusOK {
		return h.statusFailure(ctx, att, p, a, call, resp), true
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, h.o.MaxResponse))
	if err != nil {
		return h.transportFailure(ctx, r, att, p, call, err), true
	}
	o, err := a.embeddingsResult(b, e)
	if err != nil {
		return h.brokenAnswer(ctx, att, p, call, err), true
	}
	if o.usage != nil {
		res.Usage = *o.usage
	} else {
		res.Usage = Usage{PromptTokens: est, TotalTokens: est, Estimated: true}
	}
	att.Outcome = OutcomeOK
	h.writeJSON(w, call, res, start, o.body)
	return nil, true
}

type modelJSON struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// models lists the catalogue's models the caller may use (or one of them).
func (h *Handler) models(w http.ResponseWriter, r *http.Request, call CallContext, res *Result, one string) {
	item := func(m *Model) modelJSON {
		var created int64
		if !m.Created.IsZero() {
			created = m.Created.Unix()
		}
		return modelJSON{ID: m.Name, Object: "model", Created: created, OwnedBy: "gatehouse"}
	}
	var body []byte
	if one != "" {
		m, rerr := h.resolve(one, call)
		if rerr != nil {
			h.reject(w, r, call, res, rerr)
			return
		}
		res.Alias = one
		body, _ = json.Marshal(item(m))
	} else {
		list := struct {
			Object string      `json:"object"`
			Data   []modelJSON `json:"data"`
		}{Object: "list", Data: []modelJSON{}}
		for _, m := range h.o.Catalogue.Models() {
			if allowed(call.AllowedModels, m.Name) {
				list.Data = append(list.Data, item(m))
			}
		}
		sort.Slice(list.Data, func(i, j int) bool { return list.Data[i].ID < list.Data[j].ID })
		body, _ = json.Marshal(&list)
	}
	h.writeJSON(w, call, res, h.clock.Now(), body)
}
