package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"gatehouse/internal/reason"
)

// WhoamiPath is the gateway's self-diagnosis endpoint (§6).
const WhoamiPath = "/.well-known/gatehouse/whoami"

// Check names of the gateway phase.
const (
	checkClock    = "clock"
	checkWhoami   = "whoami"
	checkGwEnv    = "gateway environment"
	checkIdentity = "identity"
	checkDryRun   = "route dry run"
	checkReal     = "real request"
	checkRotation = "key rotation"
	checkExpiry   = "key expiry"
)

// maxBody bounds how much of an answer is read.
const maxBody = 1 << 20

// expirySoon is when an identity's expiry is worth a warning (the gateway
// starts its Gatehouse-Credential-Expires header at 14 days by default).
const expirySoon = 14 * 24 * time.Hour

// newClient is the HTTP client of the whoami and real requests. It uses no
// proxy (the layer probes went direct, so must the requests they explain)
// and follows no redirect (a redirect is an answer to report).
func (r *run) newClient() *http.Client {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: r.o.Timeout, Resolver: r.o.Resolver}).DialContext,
		TLSClientConfig:       r.tlsConfig(),
		TLSHandshakeTimeout:   r.o.Timeout,
		ResponseHeaderTimeout: r.o.Timeout,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   1,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       3 * r.o.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// setHeaders copies the user's headers onto req, Host included.
func (r *run) setHeaders(req *http.Request) {
	for _, h := range r.o.Headers {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = strings.TrimSpace(h.Value)
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "gatehouse-doctor")
	}
}

// whoamiAnswer is the 200 answer of whoami (Appendix A).
type whoamiAnswer struct {
	Tenant         string     `json:"tenant"`
	Consumer       string     `json:"consumer"`
	CredentialID   string     `json:"credential_id"`
	CredentialType string     `json:"credential_type"`
	Scopes         []string   `json:"scopes"`
	ExpiresAt      *time.Time `json:"expires_at"`
	Environment    string     `json:"environment"`
	Verdict        *struct {
		Allow     bool   `json:"allow"`
		Method    string `json:"method"`
		Path      string `json:"path"`
		Code      string `json:"code"`
		Status    int    `json:"status"`
		Detail    string `json:"detail"`
		Hint      string `json:"hint"`
		RequestID string `json:"request_id"`
		Trace     []struct {
			Stage   string `json:"stage"`
			Check   string `json:"check"`
			Outcome string `json:"outcome"`
			Detail  string `json:"detail"`
		} `json:"trace"`
	} `json:"verdict"`
}

// problem is a §5 rejection, in the problem+json or the OpenAI shape.
type problem struct {
	Type      string `json:"type"`
	Status    int    `json:"status"`
	Code      string `json:"code"`
	Detail    string `json:"detail"`
	Hint      string `json:"hint"`
	RequestID string `json:"request_id"`
	Error     *struct {
		Message   string `json:"message"`
		Code      string `json:"code"`
		RequestID string `json:"request_id"`
	} `json:"error"`
}

// gatewayProblem reads a rejection written by a Gatehouse gateway (not an
// error body of the upstream service): its type links to the gateway's
// error pages, or its request_id is the response's X-Request-Id.
func gatewayProblem(resp *http.Response, body []byte) (problem, bool) {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt != "application/problem+json" && mt != "application/json" {
		return problem{}, false
	}
	var p problem
	if json.Unmarshal(body, &p) != nil {
		return problem{}, false
	}
	if p.Code == "" && p.Error != nil {
		p.Code, p.Detail, p.RequestID = p.Error.Code, p.Error.Message, p.Error.RequestID
	}
	if p.Code == "" {
		return problem{}, false
	}
	rid := resp.Header.Get("X-Request-Id")
	if strings.Contains(p.Type, reason.ErrorsPath) || (rid != "" && p.RequestID == rid) {
		if p.RequestID == "" {
			p.RequestID = rid
		}
		return p, true
	}
	return problem{}, false
}

// whoami asks the gateway for a dry run of the request.
func (r *run) whoami(ctx context.Context) answer {
	path := r.u.Path
	if path == "" {
		path = "/"
	}
	q := url.Values{"method": {r.o.Method}, "path": {path}}
	if v := r.u.Query(); v.Has("api_key") {
		// The dry run judges the credential as sent, URL included.
		q["api_key"] = v["api_key"]
	}
	wu := url.URL{Scheme: r.u.Scheme, Host: r.u.Host, Path: WhoamiPath, RawQuery: q.Encode()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, wu.String(), nil)
	if err != nil {
		return answer{netFail: &finding{code: NetworkHTTP, fix: "The whoami request could not be built: " + err.Error()}}
	}
	r.setHeaders(req)
	sentAt, start := r.o.Now(), time.Now()
	resp, err := r.client.Do(req)
	if err != nil {
		d, f := r.httpFailure(err)
		r.add(GroupNetwork, checkHTTP, Fail, d)
		return answer{netFail: f}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		d, f := r.httpFailure(err)
		r.add(GroupNetwork, checkHTTP, Fail, d)
		return answer{netFail: f}
	}
	recvAt := r.o.Now()
	r.add(GroupNetwork, checkHTTP, Pass, fmt.Sprintf("%s answers (GET %s: %d in %s)", resp.Proto, WhoamiPath, resp.StatusCode, human(time.Since(start))))
	r.clockCheck(resp.Header.Get("Date"), sentAt, recvAt)
	return r.readWhoami(resp, body)
}

// clockCheck compares the gateway's Date with the local clock. Date has a
// resolution of one second (it is truncated), so half a second is added
// and differences up to the round trip plus a second are noise.
func (r *run) clockCheck(date string, sentAt, recvAt time.Time) {
	if date == "" {
		r.add(GroupGateway, checkClock, Warn, "the gateway sent no Date header: clock skew unknown")
		return
	}
	gt, err := http.ParseTime(date)
	if err != nil {
		r.add(GroupGateway, checkClock, Warn, "the gateway's Date header does not parse: clock skew unknown")
		return
	}
	rtt := recvAt.Sub(sentAt)
	mid := sentAt.Add(rtt / 2)
	skew := gt.Add(500 * time.Millisecond).Sub(mid)
	abs := skew
	if abs < 0 {
		abs = -abs
	}
	abs = abs.Round(time.Second)
	dir := "ahead of"
	if skew < 0 {
		dir = "behind"
	}
	switch {
	case abs <= time.Second+rtt/2:
		r.add(GroupGateway, checkClock, Pass, "the gateway's clock agrees with this machine's (within 1 s)")
	case abs <= SkewWarning:
		r.add(GroupGateway, checkClock, Pass, fmt.Sprintf("the gateway's clock is %s %s this machine's (fine: under %s)", human(abs), dir, human(SkewWarning)))
	default:
		r.add(GroupGateway, checkClock, Warn, fmt.Sprintf("the gateway's clock is %s %s this machine's: JWT exp/nbf and HTTP signature times are judged by the gateway's clock, so tokens and signatures made here may look expired or not yet valid there; fix whichever clock is wrong (NTP)", human(abs), dir))
	}
}

// readWhoami reads whoami's answer: a dry-run verdict, a rejection of the
// whoami call itself, or signs that the gateway has no whoami.
func (r *run) readWhoami(resp *http.Response, body []byte) answer {
	if resp.StatusCode == http.StatusOK {
		var w whoamiAnswer
		if json.Unmarshal(body, &w) == nil && w.Verdict != nil {
			return r.dryRun(&w)
		}
	}
	p, isProblem := gatewayProblem(resp, body)
	switch {
	case isProblem && resp.StatusCode == http.StatusNotFound && p.Code == reason.RouteNotFound:
		r.add(GroupGateway, checkWhoami, Warn, "the gateway has no whoami endpoint (an older Gatehouse): no dry run")
		r.noDryRun = noWhoamiEndpoint
	case resp.StatusCode == http.StatusTooManyRequests:
		d := "whoami is rate-limited right now: no dry run"
		r.noDryRun = "whoami is rate-limited right now (60 dry runs a minute per client): run the doctor again in a minute"
		if ra := resp.Header.Get("Retry-After"); ra != "" {
			d += " (retry after " + ra + " s)"
			r.noDryRun = "whoami is rate-limited right now (60 dry runs a minute per client): run the doctor again in " + ra + " s"
		}
		r.add(GroupGateway, checkWhoami, Warn, d)
	case isProblem:
		r.add(GroupGateway, checkDryRun, Fail, fmt.Sprintf("the gateway refused the dry run: %s (%d): %s (request ID %s)", p.Code, resp.StatusCode, p.Detail, p.RequestID))
		return answer{answered: true, code: p.Code, detail: p.Detail, hint: p.Hint, requestID: p.RequestID}
	case resp.StatusCode == http.StatusNotFound:
		r.add(GroupGateway, checkWhoami, Warn, fmt.Sprintf("GET %s answered 404 without a Gatehouse problem: this server is not a Gatehouse gateway, or one without whoami", WhoamiPath))
		r.noDryRun = fmt.Sprintf("the server at %s did not answer as a Gatehouse gateway (GET %s: 404 without a Gatehouse problem): check the URL — the proxy listener's address, not the admin listener's, and http or https as it serves", r.u.Host, WhoamiPath)
	default:
		r.add(GroupGateway, checkWhoami, Warn, fmt.Sprintf("GET %s answered %d, which is not a whoami answer: is this a Gatehouse gateway?", WhoamiPath, resp.StatusCode))
		r.noDryRun = fmt.Sprintf("the server at %s did not answer as a Gatehouse gateway (GET %s: %d): check the URL — the proxy listener's address, not the admin listener's, and http or https as it serves (a 400 is often plain HTTP sent to a TLS port)", r.u.Host, WhoamiPath, resp.StatusCode)
	}
	return answer{}
}

// dryRun reports whoami's identity and verdict.
func (r *run) dryRun(w *whoamiAnswer) answer {
	if w.Environment != "" {
		r.gatewayEnv = w.Environment
		switch f := r.envFinding(w.Environment); {
		case f != nil:
			r.add(GroupGateway, checkGwEnv, Fail, fmt.Sprintf("the gateway serves %s keys, and this is a %s key", w.Environment, r.keyEnv))
			r.note(f)
		case r.keyEnv != "":
			r.add(GroupGateway, checkGwEnv, Pass, fmt.Sprintf("the gateway serves %s keys, like this key", w.Environment))
		default:
			r.add(GroupGateway, checkGwEnv, Pass, fmt.Sprintf("the gateway serves %s keys", w.Environment))
		}
	}
	if w.CredentialID != "" {
		scopes := "none"
		if len(w.Scopes) > 0 {
			scopes = strings.Join(w.Scopes, ", ")
		}
		d := fmt.Sprintf("credential %s (%s) of application '%s' in tenant '%s'; scopes: %s", w.CredentialID, or(w.CredentialType, "?"), w.Consumer, w.Tenant, scopes)
		l := Pass
		switch {
		case w.ExpiresAt == nil:
			d += "; no expiry"
		case w.ExpiresAt.After(r.now):
			d += fmt.Sprintf("; expires %s (in %s)", rfc3339(*w.ExpiresAt), human(w.ExpiresAt.Sub(r.now)))
			if w.ExpiresAt.Sub(r.now) < expirySoon {
				l = Warn
				d += ": get its successor soon"
			}
		default:
			d += fmt.Sprintf("; expired %s", rfc3339(*w.ExpiresAt))
		}
		r.add(GroupGateway, checkIdentity, l, d)
	}
	v := w.Verdict
	a := answer{answered: true, requestID: v.RequestID}
	var c *Check
	if v.Allow {
		c = r.add(GroupGateway, checkDryRun, Pass, fmt.Sprintf("%s %s would be admitted (dry run, request ID %s; the upstream was not called, so only --send can tell whether the service behind answers)", v.Method, v.Path, v.RequestID))
	} else {
		a.code, a.detail, a.hint = v.Code, v.Detail, v.Hint
		d := fmt.Sprintf("%s %s would be rejected with %s (%d)", v.Method, v.Path, v.Code, v.Status)
		if v.Detail != "" {
			d += ": " + strings.TrimSuffix(v.Detail, ".")
		}
		c = r.add(GroupGateway, checkDryRun, Fail, d+fmt.Sprintf(" (request ID %s)", v.RequestID))
	}
	for _, s := range v.Trace {
		n := s.Stage + "/" + s.Check + ": " + s.Outcome
		if s.Detail != "" {
			n += " — " + s.Detail
		}
		c.Notes = append(c.Notes, n)
	}
	return a
}

// send makes the real request and reports the gateway's answer.
func (r *run) send(ctx context.Context) answer {
	var body io.Reader
	if len(r.o.Body) > 0 {
		body = bytes.NewReader(r.o.Body)
	}
	req, err := http.NewRequestWithContext(ctx, r.o.Method, r.u.String(), body)
	if err != nil {
		return answer{netFail: &finding{code: NetworkHTTP, fix: "The request could not be built: " + err.Error()}}
	}
	r.setHeaders(req)
	resp, err := r.client.Do(req)
	if err != nil {
		d, f := r.httpFailure(err)
		r.add(GroupGateway, checkReal, Fail, d)
		return answer{netFail: f}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		d, f := r.httpFailure(err)
		r.add(GroupGateway, checkReal, Fail, d)
		return answer{netFail: f}
	}
	rid := resp.Header.Get("X-Request-Id")
	if v := resp.Header.Get("Gatehouse-Credential-Rotated"); v != "" {
		r.add(GroupGateway, checkRotation, Warn, "this key was rotated and works only until its grace period ends ("+v+"): switch to the successor key")
	}
	if v := resp.Header.Get("Gatehouse-Credential-Expires"); v != "" {
		r.add(GroupGateway, checkExpiry, Warn, "this key expires at "+v+": get a new one before then")
	}
	line := fmt.Sprintf("%s %s answered %d", r.o.Method, r.u.Path, resp.StatusCode)
	if p, ok := gatewayProblem(resp, raw); ok {
		d := line + " " + p.Code
		if p.Detail != "" {
			d += ": " + strings.TrimSuffix(p.Detail, ".")
		}
		r.add(GroupGateway, checkReal, Fail, d+fmt.Sprintf(" (request ID %s)", p.RequestID))
		return answer{answered: true, real: true, code: p.Code, detail: p.Detail, hint: p.Hint, requestID: p.RequestID}
	}
	idNote := ""
	if rid != "" {
		idNote = " (request ID " + rid + ")"
	}
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		r.add(GroupGateway, checkReal, Warn, line+" redirecting to "+or(resp.Header.Get("Location"), "(no Location)")+idNote+": the gateway admitted the request; the service redirects it")
	case resp.StatusCode >= 400:
		r.add(GroupGateway, checkReal, Fail, line+" from the service behind the gateway, not from the gateway"+idNote+": the gateway admitted the request")
		return answer{answered: true, real: true, code: ServiceError, status: resp.StatusCode, requestID: rid}
	default:
		r.add(GroupGateway, checkReal, Pass, line+idNote)
	}
	return answer{answered: true, real: true, requestID: rid}
}
