// Package doctor is the engine of `gatehouse doctor` (spec §6): the
// troubleshooter for the person holding a credential, run on their machine
// against the request they are trying to make.
//
// It works outside-in, the way the manual playbook does, and stops at the
// first layer that fails:
//
//  1. local checks, with no network: which header carries the credential
//     and whether its scheme and framing are right (authheader.Parse /
//     FromRequest, the gateway's own parser), the key's format, checksum and
//     environment (keys.Parse), a JWT's header and claims decoded without
//     verification against the local clock;
//  2. the network, layer by layer: DNS → TCP → TLS → HTTP, each failure
//     named with its layer and meaning instead of a Go error chain, and the
//     gateway's Date against the local clock (skew);
//  3. the gateway's own judgement: GET /.well-known/gatehouse/whoami with
//     ?method=&path=, which runs the route's real admission stages without
//     calling the upstream;
//  4. optionally (Send) the real request, which alone can find upstream.*
//     problems.
//
// The outcome is a Report: numbered checks, one verdict ("ok" or a reason
// code) and one fix. The gateway's answer is authoritative; the local
// findings supply the more specific fix when they explain the gateway's
// code (the gateway says auth.scheme_unsupported, the doctor knows it was
// "Token" in your header). Secrets are never put in a Report: keys appear as
// gk_<env>_<id>_…<last 4>.
//
// The package prints nothing and knows nothing of cobra; internal/cli
// renders the Report.
package doctor

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"gatehouse/internal/reason"
)

// VerdictOK is the verdict of a request that would pass.
const VerdictOK = "ok"

// Verdicts of the doctor's own, for what happens before any gateway can
// give a reason code: the request never reaches one. They share the
// reason-code shape (family.name) so scripts can treat verdicts uniformly.
const (
	NetworkDNS         = "network.dns"
	NetworkRefused     = "network.connection_refused"
	NetworkUnreachable = "network.unreachable"
	NetworkTimeout     = "network.timeout"
	NetworkTLS         = "network.tls"
	NetworkHTTP        = "network.http"
	// ServiceError: the gateway admitted the real request (--send) and the
	// service behind it answered an error status of its own.
	ServiceError = "service.error"
	// Inconclusive: the gateway could not be asked (no whoami, and the
	// request was not sent) and nothing local is wrong.
	Inconclusive = "doctor.inconclusive"
)

// DefaultTimeout bounds each network step (DNS, connect, TLS handshake,
// HTTP response).
const DefaultTimeout = 10 * time.Second

// SkewWarning is the clock difference with the gateway above which the
// clock check warns: beyond it JWT exp/nbf and signature times start to
// fail at gateways with the usual leeways.
const SkewWarning = 30 * time.Second

// Level is a check's outcome.
type Level uint8

const (
	// Pass: the check found nothing wrong.
	Pass Level = iota
	// Warn: something is worth knowing but does not by itself fail the
	// request.
	Warn
	// Fail: this is wrong.
	Fail
)

// Group says which phase a check belongs to, for headings.
type Group string

// The phases, in the order they run.
const (
	GroupLocal   Group = "local"
	GroupNetwork Group = "network"
	GroupGateway Group = "gateway"
)

// Check is one line of the checklist. Its JSON form is exactly
// {"name","ok","detail"} (Appendix A); OK is true only for Pass.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	Level  Level  `json:"-"`
	Group  Group  `json:"-"`
	// Notes are extra lines for people (the dry run's trace); they are not
	// part of the JSON shape.
	Notes []string `json:"-"`
}

// Report is the doctor's answer. Its JSON form is exactly
// {"verdict","fix","checks"} (Appendix A).
type Report struct {
	Verdict string  `json:"verdict"`
	Fix     string  `json:"fix"`
	Checks  []Check `json:"checks"`
}

// OK reports whether the request would pass.
func (r *Report) OK() bool { return r.Verdict == VerdictOK }

// Header is one request header as the user typed it; the name keeps its
// spelling so a check can say "the Api-Key header".
type Header struct{ Name, Value string }

// ParseHeader reads a curl-style "Name: value". Whitespace after the colon
// is skipped, as curl does; everything else of the value is kept, so that
// trailing whitespace or quotes can be diagnosed. The error never quotes
// the value (it may be a secret).
func ParseHeader(s string) (Header, error) {
	i := strings.IndexByte(s, ':')
	if i < 0 {
		return Header{}, errors.New("a header must be 'Name: value' (no ':' found)")
	}
	name := s[:i]
	if name == "" || strings.TrimSpace(name) != name || strings.ContainsAny(name, " \t") {
		return Header{}, fmt.Errorf("header name %q is not a valid header name", name)
	}
	for _, c := range []byte(name) {
		if c < 0x21 || c > 0x7e {
			return Header{}, errors.New("a header name has characters outside printable ASCII")
		}
	}
	v := strings.TrimLeft(s[i+1:], " \t")
	return Header{Name: name, Value: v}, nil
}

// Options describe the request to diagnose and how to probe.
type Options struct {
	// URL is the full URL of the request (scheme, host, path, query).
	URL string
	// Method defaults to GET, or POST when Body is set (as curl does).
	Method  string
	Headers []Header
	Body    []byte
	// Send makes the real request after the dry run.
	Send bool
	// Timeout bounds each network step; 0 is DefaultTimeout.
	Timeout time.Duration
	// Now is the local clock (JWT claims, clock skew); nil is time.Now.
	Now func() time.Time
	// RootCAs verifies the gateway's certificate; nil is the system pool.
	RootCAs *x509.CertPool
	// Resolver resolves the host; nil is net.DefaultResolver.
	Resolver *net.Resolver
}

// finding is a cause found on the way, with the fix it calls for.
type finding struct {
	// code is the reason code the gateway reports for this problem.
	code string
	// explains lists other codes the gateway may report for it.
	explains []string
	fix      string
	// blocking: the request cannot pass while this stands.
	blocking bool
	// hidden: the doctor's own HTTP requests cannot reproduce the problem
	// (Go's client trims header values), so a gateway "allow" does not
	// clear it.
	hidden bool
}

func (f *finding) matches(code string) bool {
	return f.code == code || slices.Contains(f.explains, code)
}

// run is one diagnosis.
type run struct {
	o   Options
	u   *url.URL
	now time.Time
	rep Report

	findings []*finding
	// keyEnv and keyID describe the presented Gatehouse key, when it could
	// be read.
	keyEnv, keyID string
	// unsendable says why the headers cannot be sent at all (a newline in
	// a value): the gateway is then not asked.
	unsendable string
	gatewayEnv string
	// jwtKid and jwtIss are the presented JWT's kid and iss, decoded
	// without verification, for fixes that name them.
	jwtKid, jwtIss string
	client         *http.Client
	// noDryRun says why whoami gave no dry run: noWhoamiEndpoint (an older
	// gateway: a safe request may be sent instead), or the fix to give
	// (rate-limited; not a Gatehouse gateway at all, where sending the
	// request would read another server's answer as the service's).
	noDryRun string
}

// noWhoamiEndpoint is run.noDryRun for a Gatehouse gateway without whoami.
const noWhoamiEndpoint = "no whoami endpoint"

// Run diagnoses one request. The error is only for unusable options (a
// URL without scheme or host, a bad method); every problem with the
// request itself is in the Report.
func Run(ctx context.Context, o Options) (*Report, error) {
	r, err := newRun(o)
	if err != nil {
		return nil, err
	}
	defer r.client.CloseIdleConnections()

	r.local()

	if f := r.probe(ctx); f != nil {
		return r.finish(f.code, f.fix), nil
	}
	if r.unsendable != "" {
		r.add(GroupGateway, "gateway", Warn, "not asked: "+r.unsendable)
		return r.fromLocal(), nil
	}
	dry := r.whoami(ctx)
	if dry.netFail != nil {
		return r.finish(dry.netFail.code, dry.netFail.fix), nil
	}
	send := r.o.Send
	if !dry.answered && !send && r.noDryRun != "" && r.noDryRun != noWhoamiEndpoint {
		// Rate-limited, or not a Gatehouse gateway: a real request would
		// not tell more (another server's answer is not the service's).
		return r.fromLocal(), nil
	}
	if !dry.answered && !send && safeMethod(r.o.Method) {
		r.add(GroupGateway, "fallback", Warn, "no dry run available: sending the real "+r.o.Method+" request instead (it is safe: it changes nothing)")
		send = true
	}
	if send {
		real := r.send(ctx)
		if real.netFail != nil {
			return r.finish(real.netFail.code, real.netFail.fix), nil
		}
		if dry.answered && dry.code != real.code {
			r.add(GroupGateway, "dry run vs real request", Warn, fmt.Sprintf("the dry run said %s but the real request answered %s (the gateway's state changed, or a stage the dry run skips, such as limits or the upstream, decided)",
				orOK(dry.code), orOK(real.code)))
		}
		return r.decide(real), nil
	}
	if dry.answered {
		return r.decide(dry), nil
	}
	return r.fromLocal(), nil
}

func orOK(code string) string {
	if code == "" {
		return VerdictOK
	}
	return code
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

func newRun(o Options) (*run, error) {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Resolver == nil {
		o.Resolver = net.DefaultResolver
	}
	if o.Method == "" {
		o.Method = http.MethodGet
		if len(o.Body) > 0 {
			o.Method = http.MethodPost
		}
	}
	o.Method = strings.ToUpper(o.Method)
	for _, c := range []byte(o.Method) {
		if c < 'A' || c > 'Z' {
			return nil, fmt.Errorf("method %q is not an HTTP method", o.Method)
		}
	}
	u, err := url.Parse(strings.TrimSpace(o.URL))
	if err != nil {
		return nil, errors.New("the URL does not parse: give the full URL, e.g. https://api.example.com/v1/orders")
	}
	switch u.Scheme {
	case "http", "https":
	case "":
		return nil, errors.New("the URL has no scheme: give the full URL, e.g. https://api.example.com/v1/orders")
	default:
		return nil, fmt.Errorf("the URL's scheme is %q: use http:// or https://", u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, errors.New("the URL has no host: give the full URL, e.g. https://api.example.com/v1/orders")
	}
	if u.User != nil {
		return nil, errors.New("the URL carries user information (user:password@): send credentials in a header instead")
	}
	r := &run{o: o, u: u, now: o.Now()}
	r.client = r.newClient()
	return r, nil
}

// add appends a check and returns it for further notes.
func (r *run) add(g Group, name string, l Level, detail string) *Check {
	r.rep.Checks = append(r.rep.Checks, Check{Name: name, OK: l == Pass, Level: l, Group: g, Detail: detail})
	return &r.rep.Checks[len(r.rep.Checks)-1]
}

func (r *run) note(f *finding) { r.findings = append(r.findings, f) }

func (r *run) finish(verdict, fix string) *Report {
	r.rep.Verdict, r.rep.Fix = verdict, fix
	if r.rep.Checks == nil {
		r.rep.Checks = []Check{}
	}
	return &r.rep
}

// fromLocal decides without the gateway: the first blocking local finding,
// or inconclusive.
func (r *run) fromLocal() *Report {
	for _, f := range r.findings {
		if f.blocking {
			return r.finish(f.code, f.fix)
		}
	}
	fix := "The gateway could not be asked (it has no whoami endpoint): rerun with --send to make the real request."
	if r.noDryRun != "" && r.noDryRun != noWhoamiEndpoint {
		fix = strings.ToUpper(r.noDryRun[:1]) + r.noDryRun[1:] + "."
	}
	if r.unsendable != "" {
		fix = "Fix the header so it can be sent (" + r.unsendable + "), then run the doctor again."
	}
	return r.finish(Inconclusive, fix)
}

// answer is the gateway's judgement of the request, from the dry run or
// the real request. code "" means admitted.
type answer struct {
	answered bool
	code     string
	detail   string
	hint     string
	// requestID of the whoami or real request.
	requestID string
	// status of the real request's answer, for ServiceError.
	status  int
	real    bool
	netFail *finding
}

// decide turns the gateway's answer into the verdict and picks the fix.
func (r *run) decide(a answer) *Report {
	if a.code == "" {
		// A problem the doctor's HTTP client smoothed over (trimmed
		// whitespace) still fails the caller's own client.
		for _, f := range r.findings {
			if f.blocking && f.hidden {
				return r.finish(f.code, f.fix)
			}
		}
		if a.real {
			return r.finish(VerdictOK, "Nothing to fix: the gateway accepted the request.")
		}
		return r.finish(VerdictOK, "Nothing to fix: the gateway would accept this request.")
	}
	return r.finish(a.code, r.fixFor(a))
}

// fixFor is the one sentence for a rejection: a local finding that
// explains the code knows the most (the header's name, the scheme used);
// then fixes the doctor words itself; then the gateway's hint.
func (r *run) fixFor(a answer) string {
	for _, f := range r.findings {
		if f.matches(a.code) {
			return f.fix
		}
	}
	switch a.code {
	case reason.KeyWrongEnvironment:
		if f := r.envFinding(otherEnv(r.keyEnv)); f != nil {
			return f.fix
		}
	case reason.ScopeInsufficient:
		// The gateway's detail ends "… lacks a, b." when possession was
		// proven; name the scopes in the fix when it does.
		if _, missing, ok := strings.Cut(a.detail, " lacks "); ok && missing != "" {
			return "The key lacks " + strings.TrimSuffix(missing, ".") + ": use a key with those scopes (its application must be granted them first)."
		}
	case reason.IPNotAllowed:
		// The detail says "… saw client address <ip> (<source>), which is
		// not in the allow-list of application '…'" (or "of credential …";
		// older gateways name the credential's always).
		if _, rest, ok := strings.Cut(a.detail, "client address "); ok {
			if ip, _, ok := strings.Cut(rest, " "); ok && ip != "" {
				whose := "the credential's"
				if strings.Contains(a.detail, "allow-list of application") {
					whose = "the application's"
				}
				fix := "The gateway sees this machine as " + ip + ", which " + whose + " IP allow-list does not include: call from an allowed network, or ask the operator to allow " + ip + "."
				if strings.Contains(a.detail, "X-Forwarded-For was not used") {
					fix += " (Behind a proxy: the gateway does not trust it for X-Forwarded-For; its operator lists trusted proxies in trusted_proxies.)"
				}
				return fix
			}
		}
	case reason.AuthMethodNotAllowed:
		// The gateway's detail ends "This route accepts <what and
		// where>." ("It accepts …" from gateways before that wording).
		if i := strings.LastIndex(a.detail, "accepts "); i >= 0 {
			return "This route does not take this kind of credential: it accepts " + strings.TrimSuffix(a.detail[i+len("accepts "):], ".") + "."
		}
	case "jwt.unknown_kid":
		// The token is fine as a token; the key that signed it is not one
		// the issuer publishes (a retired key, another environment's
		// issuer, or a token minted elsewhere).
		if r.jwtKid != "" {
			iss := or(r.jwtIss, "your identity provider")
			return fmt.Sprintf("The token is signed with key '%s', which issuer %s does not publish (no such kid in its key set): get a fresh token from %s; if a fresh one fails the same way, the token comes from another issuer or environment, or the issuer's keys changed: tell the API operator, quoting request ID %s.",
				r.jwtKid, iss, iss, a.requestID)
		}
	case reason.AuthBackendUnavailable:
		// The gateway's problem, not the credential's: say what it cannot
		// reach so nobody rotates a good token or key.
		if iss, ok := quotedAfter(a.detail, "signing keys of issuer "); ok {
			return "The gateway cannot fetch the signing keys (JWKS) of issuer " + iss + ", so it cannot check any token of that issuer: your token is not at fault. Tell the API operator that the issuer's key set is unreachable from the gateway, quoting request ID " + a.requestID + "; retry later."
		}
		if a.detail != "" {
			return "The gateway cannot reach what it needs to check the credential (" + strings.TrimSuffix(a.detail, ".") + "): your credential is not at fault. Retry later; if it persists, tell the API operator, quoting request ID " + a.requestID + "."
		}
	case reason.UpstreamUnavailable:
		return "The gateway accepted the credential but the service behind it is down: tell the API owner, quoting request ID " + a.requestID + "."
	case ServiceError:
		rid := ""
		if a.requestID != "" {
			rid = ", quoting request ID " + a.requestID
		}
		if a.status >= 500 {
			return fmt.Sprintf("The gateway admitted the request, but the service behind it failed (%d): tell the API owner%s.", a.status, rid)
		}
		return fmt.Sprintf("The gateway admitted the request, but the service behind it refused it (%d): check the request against the API's documentation, or ask the API owner%s.", a.status, rid)
	case reason.UpstreamTimeout:
		return "The gateway accepted the credential but the service behind it did not answer in time: tell the API owner, quoting request ID " + a.requestID + "."
	}
	hint := a.hint
	if hint == "" {
		if en, ok := reason.Lookup(a.code); ok {
			hint = en.Hint
		}
	}
	if hint == "" {
		return "Quote request ID " + a.requestID + " to the API operator."
	}
	if strings.Contains(hint, "the detail") && a.detail != "" {
		return strings.TrimSuffix(hint, ".") + ": " + a.detail
	}
	return hint
}

// quotedAfter returns the value after prefix in s, unquoted when the
// gateway quoted it (strconv.Quote), else up to the next space.
func quotedAfter(s, prefix string) (string, bool) {
	_, rest, ok := strings.Cut(s, prefix)
	if !ok || rest == "" {
		return "", false
	}
	if rest[0] == '"' {
		if q, err := strconv.QuotedPrefix(rest); err == nil {
			if v, err := strconv.Unquote(q); err == nil {
				return v, true
			}
		}
		return "", false
	}
	v, _, _ := strings.Cut(rest, " ")
	v = strings.TrimSuffix(v, ".")
	return v, v != ""
}

func otherEnv(env string) string {
	switch env {
	case "live":
		return "test"
	case "test":
		return "live"
	}
	return ""
}

// envFinding is the wrong-environment finding for a gateway serving
// gatewayEnv, or nil when the key's environment is unknown or matches.
func (r *run) envFinding(gatewayEnv string) *finding {
	if r.keyEnv == "" || gatewayEnv == "" || r.keyEnv == gatewayEnv {
		return nil
	}
	return &finding{code: reason.KeyWrongEnvironment, blocking: true,
		fix: fmt.Sprintf("This is a %s key and the gateway serves %s: use a gk_%s_ key", r.keyEnv, gatewayEnv, gatewayEnv)}
}

// sentence makes a detail (lower-case, no final stop) into a sentence.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	if c := s[0]; 'a' <= c && c <= 'z' {
		s = string(c-'a'+'A') + s[1:]
	}
	if !strings.HasSuffix(s, ".") && !strings.HasSuffix(s, "?") && !strings.HasSuffix(s, "!") {
		s += "."
	}
	return s
}

// human renders a duration for people: "450 ms", "45 s", "2 min 5 s",
// "3 h 20 min", "12 days".
func human(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d/time.Second))
	case d < time.Hour:
		m, s := int(d/time.Minute), int(d%time.Minute/time.Second)
		if s == 0 {
			return fmt.Sprintf("%d min", m)
		}
		return fmt.Sprintf("%d min %d s", m, s)
	case d < 48*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%d h", h)
		}
		return fmt.Sprintf("%d h %d min", h, m)
	}
	return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }
