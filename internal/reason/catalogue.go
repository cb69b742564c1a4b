// Package reason is Gatehouse's reason catalogue and its layered error value.
//
// Every rejection, from any stage, is a *reason.Error carrying a stable code
// from the catalogue below. The catalogue is data: the error pages served at
// /.well-known/gatehouse/errors/{code}, docs/errors.md and the tests that
// walk every code are all generated from this one table. Adding a code is
// fine; renaming one is a breaking change.
package reason

import "sort"

// RFC 6750 §3.1 error attributes for WWW-Authenticate.
const (
	// BearerNone: "If the request lacks any authentication information …,
	// the resource server SHOULD NOT include an error code".
	BearerNone = ""
	// BearerInvalidRequest: "The request is missing a required parameter,
	// includes an unsupported parameter or parameter value, repeats the same
	// parameter, … or is otherwise malformed. The resource server SHOULD
	// respond with the HTTP 400 (Bad Request) status code."
	BearerInvalidRequest = "invalid_request"
	// BearerInvalidToken: "The access token provided is expired, revoked,
	// malformed, or invalid for other reasons. The resource SHOULD respond
	// with the HTTP 401 (Unauthorized) status code."
	BearerInvalidToken = "invalid_token"
	// BearerInsufficientScope: "The request requires higher privileges than
	// provided by the access token. The resource server SHOULD respond with
	// the HTTP 403 (Forbidden) status code and MAY include the "scope"
	// attribute with the scope necessary to access the protected resource."
	BearerInsufficientScope = "insufficient_scope"
)

// Entry describes one reason code.
type Entry struct {
	Code   string
	Status int
	Title  string
	// Meaning says what happened, in one or two sentences.
	Meaning string
	// Causes lists the common reasons this happens.
	Causes []string
	// Hint is the default next step told to the caller.
	Hint string
	// Bearer is the RFC 6750 error attribute; "-" means no WWW-Authenticate.
	Bearer string
	// Possession marks codes that reveal facts about a credential (its
	// lifecycle, its owner, its grants). They may only reach a caller that
	// proved it holds the credential; Error.render enforces it.
	Possession bool
}

// Lookup returns the catalogue entry for code.
func Lookup(code string) (Entry, bool) {
	e, ok := byCode[code]
	return e, ok
}

// All returns the catalogue sorted by code.
func All() []Entry {
	out := make([]Entry, len(catalogue))
	copy(out, catalogue)
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out
}

var byCode = func() map[string]Entry {
	m := make(map[string]Entry, len(catalogue))
	for _, e := range catalogue {
		m[e.Code] = e
	}
	return m
}()

// Codes used from Go code. Keep them in sync with the table below; a test
// checks every constant is catalogued.
const (
	RouteNotFound          = "route.not_found"
	MethodNotAllowed       = "method.not_allowed"
	AuthMissing            = "auth.missing"
	AuthSchemeUnsupported  = "auth.scheme_unsupported"
	AuthMalformedHeader    = "auth.malformed_header"
	AuthAmbiguous          = "auth.ambiguous"
	AuthMethodNotAllowed   = "auth.method_not_allowed"
	AuthBackendUnavailable = "auth.backend_unavailable"
	KeyMalformed           = "key.malformed"
	KeyChecksumMismatch    = "key.checksum_mismatch"
	KeyWrongEnvironment    = "key.wrong_environment"
	KeyUnknown             = "key.unknown"
	KeyExpired             = "key.expired"
	KeyRevoked             = "key.revoked"
	KeyRotated             = "key.rotated"
	ConsumerSuspended      = "consumer.suspended"
	ConsumerDeleted        = "consumer.deleted"
	TenantSuspended        = "tenant.suspended"
	TenantMismatch         = "tenant.mismatch"
	SubscriptionRequired   = "subscription.required"
	SubscriptionPending    = "subscription.pending"
	SubscriptionRejected   = "subscription.rejected"
	SubscriptionRevoked    = "subscription.revoked"
	ScopeInsufficient      = "scope.insufficient"
	IPNotAllowed           = "ip.not_allowed"
	RateExceeded           = "rate.exceeded"
	BudgetExceeded         = "budget.exceeded"
	TokenUnrecognized      = "token.unrecognized"
	QuotaExceeded          = "quota.exceeded"
	UpstreamUnavailable    = "upstream.unavailable"
	UpstreamTimeout        = "upstream.timeout"
	RequestTooLarge        = "request.too_large"
	RequestPathAmbiguous   = "request.path_ambiguous"
	RequestMalformed       = "request.malformed"
	RequestHeadTooLarge    = "request.head_too_large"
	RequestReadTimeout     = "request.read_timeout"
	CORSOriginNotAllowed   = "cors.origin_not_allowed"
	CORSMethodNotAllowed   = "cors.method_not_allowed"
	CORSHeaderNotAllowed   = "cors.header_not_allowed"
	ServiceRetired         = "service.retired"
	GatewayInternal        = "gateway.internal"
	// Codes other packages own (httpsig, ai) and others match on: named
	// here so the match and the answer cannot drift apart.
	SigInvalid     = "sig.invalid"
	AIModelUnknown = "ai.model_unknown"
	AIBadRequest   = "ai.bad_request"
)

var catalogue = []Entry{
	{Code: RouteNotFound, Status: 404, Title: "No route matches this request", Bearer: "-",
		Meaning: "The gateway has no route for this host and path. No credential was checked.",
		Causes:  []string{"A typo in the path or a missing version prefix (/v1/…).", "The wrong gateway host or environment.", "The route was deleted or not yet created."},
		Hint:    "Check the URL's host and path against the API's documentation."},
	{Code: MethodNotAllowed, Status: 405, Title: "Method not allowed on this route", Bearer: "-",
		Meaning: "A route matches the path, but not the HTTP method. No credential was checked.",
		Causes:  []string{"GET instead of POST (or the reverse).", "The route only exposes some methods of the service."},
		Hint:    "Use one of the methods listed in the Allow header."},
	{Code: AuthMissing, Status: 401, Title: "No credential presented", Bearer: BearerNone,
		Meaning: "The route requires authentication and the request carries no credential the route accepts.",
		Causes:  []string{"The Authorization header was not sent, or was stripped by a proxy or redirect.", "The key was sent in a header this route does not read.", "An environment variable holding the key is empty."},
		Hint:    "Send your key as 'Authorization: Bearer gk_…' (or as the route's detail lists)."},
	{Code: AuthSchemeUnsupported, Status: 401, Title: "Unsupported authorization scheme", Bearer: BearerNone,
		Meaning: "The Authorization header uses a scheme this route does not accept.",
		Causes:  []string{"'Token …' or 'Key …' instead of 'Bearer …'.", "A client library configured for another gateway."},
		Hint:    "Use one of the schemes named in the detail, e.g. 'Authorization: Bearer gk_…'."},
	{Code: AuthMalformedHeader, Status: 400, Title: "Malformed Authorization header", Bearer: BearerInvalidRequest,
		Meaning: "The Authorization header could not be read: empty token, quotes, a doubled scheme or stray whitespace.",
		Causes:  []string{"'Bearer Bearer gk_…' from a client that adds the scheme itself.", "Quotes copied around the key.", "Two Authorization headers."},
		Hint:    "Send exactly 'Authorization: Bearer <key>' with one space and no quotes."},
	{Code: AuthAmbiguous, Status: 400, Title: "More than one credential", Bearer: BearerInvalidRequest,
		Meaning: "The request carries two different credentials, and the gateway will not guess which one is meant.",
		Causes:  []string{"A key in both Authorization and X-API-Key that differ.", "A default header set by a client library plus an explicit one."},
		Hint:    "Send one credential only."},
	{Code: AuthMethodNotAllowed, Status: 401, Title: "Credential type not accepted here", Bearer: BearerInvalidToken,
		Meaning: "The request carries a credential of a type this route does not accept. The detail names what the request carries and where, as far as the request itself shows it, and each credential type the route accepts and where it goes.",
		Causes:  []string{"A JWT sent to a route that accepts only API keys, or the reverse.", "An API key sent in X-API-Key to a route that accepts only JWTs or Basic credentials."},
		Hint:    "Use one of the credential types named in the detail."},
	{Code: AuthBackendUnavailable, Status: 503, Title: "Authentication backend unavailable", Bearer: "-",
		Meaning: "The gateway could not reach what it needs to verify the credential (key set, introspection endpoint or store). This is not the caller's fault.",
		Causes:  []string{"The identity provider or store is down or unreachable from the gateway."},
		Hint:    "Retry later; if it persists, tell the API operator and quote the request ID."},
	{Code: KeyMalformed, Status: 401, Title: "API key is malformed", Bearer: BearerInvalidToken,
		Meaning: "The presented string is not a well-formed Gatehouse key. The detail names what is wrong with it (prefix, length, a character, whitespace or quotes).",
		Causes:  []string{"The key was truncated when copied.", "Quotes, whitespace or a newline came with it (e.g. from a file or env var).", "A key of another system was sent."},
		Hint:    "Copy the key again exactly as it was shown at creation, without quotes or whitespace."},
	{Code: KeyChecksumMismatch, Status: 401, Title: "API key has a typo", Bearer: BearerInvalidToken,
		Meaning: "The key has the right shape, but its checksum does not match: one or more characters were changed.",
		Causes:  []string{"A character mistyped or misread (0/O, l/1).", "Two keys spliced together."},
		Hint:    "Copy the key again; it was changed somewhere between creation and this request."},
	{Code: KeyWrongEnvironment, Status: 401, Title: "API key is for another environment", Bearer: BearerInvalidToken,
		Meaning: "The key belongs to another environment (test vs live) than the one this gateway serves.",
		Causes:  []string{"A test key used against production, or the reverse.", "The wrong environment's configuration deployed."},
		Hint:    "Use a key of this gateway's environment (the detail names both)."},
	{Code: KeyUnknown, Status: 401, Title: "API key not recognised", Bearer: BearerInvalidToken,
		Meaning: "The key is well-formed but the gateway does not recognise it.",
		Causes:  []string{"The key was deleted, or belongs to another gateway.", "An old secret of a key that was rotated."},
		Hint:    "Check you are using the current key for this gateway; ask its owner for a new one if needed."},
	{Code: KeyExpired, Status: 401, Title: "API key expired", Bearer: BearerInvalidToken, Possession: true,
		Meaning: "The key was valid but reached its expiry time.",
		Causes:  []string{"The key was created with an expiry and not renewed."},
		Hint:    "Create a new key (or ask the application's owner for one)."},
	{Code: KeyRevoked, Status: 401, Title: "API key revoked", Bearer: BearerInvalidToken, Possession: true,
		Meaning: "The key was revoked by an operator; the detail says when and why.",
		Causes:  []string{"The key was reported compromised.", "The application was decommissioned."},
		Hint:    "Ask the owner of the application for a new key, or create one in the portal."},
	{Code: KeyRotated, Status: 401, Title: "API key replaced by a newer key", Bearer: BearerInvalidToken, Possession: true,
		Meaning: "The key was rotated and its grace period is over; the detail names the successor key's id.",
		Causes:  []string{"A deployment still uses the old key after a rotation."},
		Hint:    "Switch to the successor key named in the detail."},
	{Code: ConsumerSuspended, Status: 403, Title: "Application suspended", Bearer: "-", Possession: true,
		Meaning: "The key is valid, but the application (consumer) it belongs to is suspended.",
		Causes:  []string{"An operator suspended the application, e.g. for abuse or an unpaid plan."},
		Hint:    "Contact the API operator to resume the application."},
	{Code: ConsumerDeleted, Status: 401, Title: "Application deleted", Bearer: BearerInvalidToken, Possession: true,
		Meaning: "The key belonged to an application (consumer) that was deleted; its keys no longer work.",
		Causes:  []string{"The application was removed."},
		Hint:    "Register a new application and create a key for it."},
	{Code: TenantSuspended, Status: 403, Title: "Tenant suspended", Bearer: "-", Possession: true,
		Meaning: "The key is valid, but its tenant (team or workspace) is suspended.",
		Causes:  []string{"An operator suspended the whole tenant."},
		Hint:    "Contact the API operator to resume the tenant."},
	{Code: TenantMismatch, Status: 403, Title: "Key belongs to another tenant", Bearer: "-", Possession: true,
		Meaning: "The key is valid but belongs to a different tenant than the service, and there is no subscription that lets it call the service.",
		Causes:  []string{"A key of another team used against this service.", "The service is private to its tenant."},
		Hint:    "Use a key of the service's tenant, or request a subscription if the service is published."},
	{Code: SubscriptionRequired, Status: 403, Title: "Subscription required", Bearer: "-", Possession: true,
		Meaning: "The service requires an approved subscription and the application has none.",
		Hint:    "Request a subscription to this service in the portal or with 'gatehouse subscription request'."},
	{Code: SubscriptionPending, Status: 403, Title: "Subscription awaiting approval", Bearer: "-", Possession: true,
		Meaning: "A subscription was requested but not yet approved.",
		Hint:    "Ask the approver named in the detail to approve the request."},
	{Code: SubscriptionRejected, Status: 403, Title: "Subscription rejected", Bearer: "-", Possession: true,
		Meaning: "The subscription request was rejected; the detail carries the approver's note.",
		Hint:    "Read the note; contact the service owner before requesting again."},
	{Code: SubscriptionRevoked, Status: 403, Title: "Subscription revoked", Bearer: "-", Possession: true,
		Meaning: "The subscription was approved earlier and has been revoked.",
		Hint:    "Contact the service owner."},
	{Code: ScopeInsufficient, Status: 403, Title: "Missing scope", Bearer: BearerInsufficientScope, Possession: true,
		Meaning: "The credential is valid but lacks scopes the route requires; the detail lists the missing ones.",
		Hint:    "Create a key with the missing scopes (the consumer must be granted them first)."},
	{Code: IPNotAllowed, Status: 403, Title: "Client IP not allowed", Bearer: "-", Possession: true,
		Meaning: "The credential is valid but the client address is not in its allow-list. The detail shows the address the gateway saw and where it came from.",
		Causes:  []string{"Calling from a new network or a NAT gateway.", "A proxy in front of the gateway that is not configured as trusted."},
		Hint:    "Call from an allowed network, or ask the operator to add the address shown."},
	{Code: RateExceeded, Status: 429, Title: "Rate limit exceeded", Bearer: "-",
		Meaning: "Too many requests in the limit's window; the Retry-After header says when to retry.",
		Hint:    "Slow down and retry after the number of seconds in Retry-After."},
	{Code: QuotaExceeded, Status: 429, Title: "Quota exhausted", Bearer: "-",
		Meaning: "A quota — calls per calendar day or month, of the route or of the subscription's plan — is used up; the detail says whose quota, how large, and when it resets.",
		Hint:    "Wait for the next period (Retry-After), or ask the operator for a larger quota or plan."},
	{Code: BudgetExceeded, Status: 429, Title: "AI budget exhausted", Bearer: "-",
		Meaning: "The AI spending budget for the period is used up.",
		Hint:    "Wait for the next period or ask for a larger budget."},
	{Code: UpstreamUnavailable, Status: 502, Title: "Upstream unavailable", Bearer: "-",
		Meaning: "The credential was accepted, but the gateway could not reach the service behind it. This is not an authentication problem.",
		Causes: []string{"The service is down, restarting or refusing connections.", "All targets were ejected after consecutive failures.",
			"The service closed the connection part-way through its response: the client sees the connection cut, and the call " +
				"record carries this code with the status the service began with."},
		Hint: "Retry later; if it persists, tell the service owner and quote the request ID."},
	{Code: UpstreamTimeout, Status: 504, Title: "Upstream timed out", Bearer: "-",
		Meaning: "The credential was accepted, but the service did not answer within its configured timeout. This is not an authentication problem.",
		Hint:    "Retry later; if it persists, tell the service owner and quote the request ID."},
	{Code: RequestTooLarge, Status: 413, Title: "Request body too large", Bearer: "-",
		Meaning: "The request body exceeds the route's max_body.",
		Hint:    "Send a smaller body (the detail gives the limit)."},
	{Code: RequestMalformed, Status: 400, Title: "Malformed request", Bearer: "-",
		Meaning: "The request is not valid HTTP/1.1, or is framed so that two readers could disagree on where it ends: a head line " +
			"that cannot be parsed, both Content-Length and Transfer-Encoding, two different Content-Lengths, an unknown transfer " +
			"coding, a head whose lines end in a bare LF instead of CRLF (RFC 9112 §2.2), an invalid Host, or a body whose chunked " +
			"framing is broken (RFC 9112 §7.1). A broken head is refused before " +
			"routing; a broken body where it breaks — the service behind the route may have received part of the request and did " +
			"not answer it. The connection is closed. This is not an authentication problem, and not the service's fault.",
		Causes: []string{"A hand-built request (a script, netcat) with a malformed header line: a space before the colon, a line without one.",
			"A hand-built request whose lines end in LF alone (printf '...\\n' or a Unix text file) instead of CRLF.",
			"A client or proxy that sends both Content-Length and Transfer-Encoding.",
			"A Host header with user information ('user@host') or characters a host cannot have.",
			"Chunked encoding written by hand: a chunk size with 0x, a sign or non-hexadecimal characters, or too large.",
			"A chunk carries more or fewer bytes than its size line declares, or chunk lines end in LF alone instead of CRLF.",
			"Something between the client and the gateway altered the body without fixing its framing."},
		Hint: "Fix what the detail names. A head is a request line and header lines, each ended by CRLF, then an empty line (CRLF), " +
			"with Content-Length or Transfer-Encoding but not both. A chunked body is each chunk's size in plain hexadecimal and CRLF, " +
			"exactly that many bytes and CRLF, and a last chunk of size 0 — or send the body with Content-Length instead. " +
			"A maintained HTTP client library makes none of these mistakes."},
	{Code: RequestHeadTooLarge, Status: 431, Title: "Request head too large", Bearer: "-",
		Meaning: "The request line and headers together exceed the listener's limit (64 KiB), so the request was not read. No credential was checked.",
		Causes:  []string{"A very long URL (a query string carrying data that belongs in a body).", "Large or many cookies.", "A header repeated by a client in a loop."},
		Hint:    "Send less in the URL and headers: move data into the body, trim cookies."},
	{Code: RequestReadTimeout, Status: 408, Title: "Request not received in time", Bearer: "-",
		Meaning: "The connection opened, but the request — its line and headers, or a small body the listener reads before routing — " +
			"did not all arrive within the listener's read timeout (10 s). No credential was checked. A larger body, streamed to the " +
			"service after the credential was accepted, that stops arriving for longer than the listener allows is answered the same " +
			"way: the service may have received part of it, and it is not the service's fault.",
		Causes: []string{"A client that stalls between connecting and sending, or sends slowly.",
			"A Content-Length larger than the body the client actually sends.", "A network path that loses packets."},
		Hint: "Send the whole request promptly after connecting, with a Content-Length that matches the body; check the network between the client and the gateway."},
	{Code: RequestPathAmbiguous, Status: 400, Title: "Ambiguous request path", Bearer: "-",
		Meaning: "A service may read the path as another path than the gateway routes. Routes are matched on the decoded path, " +
			"while a service may decode and normalise it itself, drop ';' path parameters (Tomcat, Jetty, Spring) or take '\\' for '/' " +
			"(IIS, some frameworks). Refused: a dot-segment in that reading — percent-encoded (%2e%2e, %2e), with a path parameter " +
			"('..;', '.;x'), or formed by backslashes ('\\..\\', '..%5C') — and any other difference that leads to another route " +
			"(encoded slashes that merge, a parameter or a backslash that moves a segment boundary). Such a path could reach a " +
			"resource the matched route does not cover, so the gateway forwards neither form. No credential was checked.",
		Causes: []string{"A client library that percent-encodes '.' or '/' inside the path, or builds it with '\\'.",
			"A path joined from pieces with an encoded '..', a '..;' or a '..\\' (or a path-traversal probe)."},
		Hint: "Send the path in its plain form: resolve '.' and '..' segments, do not encode the '/' between segments as %2F, " +
			"and use '/' rather than '\\' between segments."},
	{Code: CORSOriginNotAllowed, Status: 403, Title: "CORS origin not allowed", Bearer: "-",
		Meaning: "A browser page on another origin called this route (a preflight, or the request itself), and the page's Origin is not " +
			"among the route's allowed origins — or the route allows no cross-origin calls at all. No credential was checked: " +
			"this is not an authentication failure, and a preflight never carries a credential anyway.",
		Causes: []string{"The page is served from an origin the route does not list (another port, http instead of https, a new subdomain).",
			"A trailing slash or path in the configured origin: an Origin is scheme://host[:port] only.",
			"The route has no cors configuration, so browsers on other origins cannot call it."},
		Hint: "Ask the API's operator to add your page's origin (the detail names it) to the route's cors.allowed_origins; " +
			"they see the allowed list with gatehouse explain <request id>."},
	{Code: CORSMethodNotAllowed, Status: 403, Title: "CORS method not allowed", Bearer: "-",
		Meaning: "The browser's preflight asked to use a method the route's cors.allowed_methods does not include. No credential was checked.",
		Causes:  []string{"The page sends PUT, PATCH or DELETE to a route whose CORS policy allows only reading methods."},
		Hint:    "Use a method the detail lists, or ask the operator to add this one to the route's cors.allowed_methods."},
	{Code: CORSHeaderNotAllowed, Status: 403, Title: "CORS request header not allowed", Bearer: "-",
		Meaning: "The browser's preflight asked to send a request header the route's cors.allowed_headers does not include. No credential was checked.",
		Causes: []string{"The page sets Content-Type: application/json (not a CORS-safelisted type) and content-type is not allowed.",
			"A client library adds its own header (X-Requested-With, a tracing header) that the route does not allow."},
		Hint: "Stop sending the header the detail names, or ask the operator to add it to the route's cors.allowed_headers."},
	{Code: ServiceRetired, Status: 410, Title: "Service retired", Bearer: "-",
		Meaning: "This version of the service is retired; the detail names the successor version if there is one.",
		Hint:    "Move to the successor version."},
	{Code: GatewayInternal, Status: 500, Title: "Gateway internal error", Bearer: "-",
		Meaning: "The gateway failed while handling the request. This is not the caller's fault.",
		Hint:    "Retry; if it persists, tell the API operator and quote the request ID."},
	// Codes of later capabilities, catalogued now so the contract is one table.
	{Code: "jwt.malformed", Status: 401, Title: "JWT is malformed", Bearer: BearerInvalidToken, Meaning: "The bearer token is not a well-formed JWT.", Hint: "Send the token exactly as the identity provider issued it."},
	{Code: "jwt.alg_not_allowed", Status: 401, Title: "JWT algorithm not allowed", Bearer: BearerInvalidToken, Meaning: "The token's alg is not in the issuer's allow-list.", Hint: "Configure the identity provider to sign with an allowed algorithm."},
	{Code: "jwt.unknown_kid", Status: 401, Title: "JWT signed by an unknown key", Bearer: BearerInvalidToken, Meaning: "No key in the issuer's key set matches the token's kid.", Hint: "Get a fresh token; if it persists the issuer's keys have changed."},
	{Code: "jwt.signature_invalid", Status: 401, Title: "JWT signature invalid", Bearer: BearerInvalidToken, Meaning: "The token's signature does not verify.", Hint: "Get a fresh token from the identity provider."},
	{Code: "jwt.issuer_unknown", Status: 401, Title: "JWT issuer not trusted", Bearer: BearerInvalidToken, Meaning: "The token's iss is not a trusted issuer.", Hint: "Get a token from an issuer this gateway trusts."},
	{Code: "jwt.audience_mismatch", Status: 401, Title: "JWT audience mismatch", Bearer: BearerInvalidToken, Meaning: "The token's aud does not include this API.", Hint: "Request a token for the audience named in the detail."},
	{Code: "jwt.claim_missing", Status: 401, Title: "JWT claim missing", Bearer: BearerInvalidToken, Meaning: "A required claim is absent.", Hint: "Request a token that carries the claim named in the detail."},
	{Code: "jwt.type_mismatch", Status: 401, Title: "JWT type mismatch", Bearer: BearerInvalidToken, Meaning: "The token's typ is not the one required (e.g. an ID token sent as an access token).", Hint: "Send an access token."},
	{Code: "jwt.expired", Status: 401, Title: "JWT expired", Bearer: BearerInvalidToken, Meaning: "The token's exp is in the past (beyond the leeway).", Hint: "Get a fresh token; if it is fresh, check your clock."},
	{Code: "jwt.not_yet_valid", Status: 401, Title: "JWT not yet valid", Bearer: BearerInvalidToken, Meaning: "The token's nbf or iat is in the future (beyond the leeway).", Hint: "Check the issuer's and your clock."},
	{Code: "token.inactive", Status: 401, Title: "Token inactive", Bearer: BearerInvalidToken, Meaning: "Introspection says the token is not active.", Hint: "Get a fresh token."},
	{Code: TokenUnrecognized, Status: 401, Title: "Bearer token not recognised", Bearer: BearerInvalidToken, Meaning: "The bearer value is neither a Gatehouse key nor a JWT, and no introspection is configured.", Hint: "Send a Gatehouse key or a token from a trusted issuer."},
	{Code: "identity.unmapped", Status: 403, Title: "Identity not bound to a consumer", Bearer: "-", Possession: true, Meaning: "The token is valid but no consumer is bound to its issuer and subject.", Hint: "Ask the operator to bind your identity to an application."},
	{Code: "sig.missing", Status: 401, Title: "HTTP signature missing", Bearer: "-", Meaning: "The route requires an RFC 9421 signature.", Hint: "Sign the request."},
	{Code: "sig.malformed", Status: 401, Title: "HTTP signature malformed", Bearer: "-", Meaning: "Signature-Input or Signature could not be parsed.", Hint: "Check the structured-field syntax."},
	{Code: "sig.unknown_key", Status: 401, Title: "HTTP signature key unknown", Bearer: "-", Meaning: "The keyid is not known. Not answered to callers: before a signature verifies, an unknown keyid answers sig.invalid like a wrong key, so which keyids exist cannot be probed (§5); the operator's trace says which it was.", Hint: "Use a registered key id."},
	{Code: SigInvalid, Status: 401, Title: "HTTP signature invalid", Bearer: "-", Meaning: "The signature does not verify with a key of its keyid known to the gateway: a wrong key or secret, an unknown keyid, an alg that is not the key's, or covered components that differ from what was signed.", Hint: "Check the keyid, the key and the covered components."},
	{Code: "sig.expired", Status: 401, Title: "HTTP signature expired", Bearer: "-", Meaning: "The signature's expires is in the past.", Hint: "Sign again."},
	{Code: "sig.clock_skew", Status: 401, Title: "HTTP signature clock skew", Bearer: "-", Meaning: "The signature's created time is too far from the gateway's clock.", Hint: "Check your clock."},
	{Code: "sig.replayed", Status: 401, Title: "HTTP signature replayed", Bearer: "-", Meaning: "This signature (nonce) was already used.", Hint: "Sign each request anew with a fresh nonce."},
	{Code: "sig.insufficient_coverage", Status: 401, Title: "HTTP signature covers too little", Bearer: "-", Meaning: "Required components are not covered.", Hint: "Cover the components named in the detail."},
	{Code: "sig.digest_mismatch", Status: 401, Title: "Content digest mismatch", Bearer: "-", Meaning: "The body does not match Content-Digest.", Hint: "Compute the digest over the exact body sent."},
	{Code: "mtls.certificate_missing", Status: 401, Title: "Client certificate missing", Bearer: "-", Meaning: "The route requires a client certificate.", Hint: "Present your client certificate."},
	{Code: "mtls.certificate_untrusted", Status: 401, Title: "Client certificate untrusted", Bearer: "-", Meaning: "The certificate does not chain to a trusted CA.", Hint: "Use a certificate issued by a trusted CA."},
	{Code: "mtls.certificate_expired", Status: 401, Title: "Client certificate expired", Bearer: "-", Meaning: "The certificate is outside its validity period.", Hint: "Renew the certificate."},
	{Code: "mtls.certificate_unmapped", Status: 403, Title: "Client certificate not bound", Bearer: "-", Possession: true, Meaning: "The certificate is trusted but bound to no consumer.", Hint: "Ask the operator to bind it."},
	{Code: "basic.malformed", Status: 400, Title: "Basic credentials malformed", Bearer: "-", Meaning: "The Basic credentials are not valid base64 of user:password.", Hint: "Encode 'user:password' in base64."},
	{Code: "basic.invalid_credentials", Status: 401, Title: "Basic credentials invalid", Bearer: BearerNone, Meaning: "Unknown user or wrong password.", Hint: "Check the username and password."},
	{Code: "basic.locked_out", Status: 429, Title: "Too many failed Basic attempts", Bearer: "-",
		Meaning: "Too many wrong passwords were sent for this username, or from this client address, within the lockout window. Until the lockout ends the gateway refuses Basic credentials for it without checking them, the right password included; Retry-After says when. Unknown usernames are counted like known ones, so this says nothing about whether a username exists.",
		Causes: []string{"A client retrying with an old or mistyped password.", "Someone guessing passwords for the username.",
			"Many clients behind one address (a NAT, or a proxy the gateway does not trust for X-Forwarded-For) failing together."},
		Hint: "Wait the number of seconds in Retry-After, then send the right password; if you did not cause the failures, tell the API operator and quote the request ID."},
	{Code: AIModelUnknown, Status: 404, Title: "Model unknown", Bearer: "-", Meaning: "No model of that name is in the catalogue.", Hint: "List models with GET /v1/models."},
	{Code: "ai.model_not_allowed", Status: 403, Title: "Model not allowed", Bearer: "-", Possession: true, Meaning: "The application may not use this model.", Hint: "Use an allowed model."},
	{Code: "ai.provider_error", Status: 502, Title: "AI provider error", Bearer: "-", Meaning: "The provider failed.", Hint: "Retry later."},
	{Code: AIBadRequest, Status: 400, Title: "Bad AI request", Bearer: "-", Meaning: "The request body is not a valid request.", Hint: "Fix the field named in the detail."},
}
