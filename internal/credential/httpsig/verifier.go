// Package httpsig verifies RFC 9421 HTTP Message Signatures on requests,
// with RFC 9530 Content-Digest binding the body and a nonce cache against
// replay. It implements credential.Verifier for the route method
// "http_signature" (domain.AuthHTTPSignature).
//
// Order of checks, and why. Everything the caller's own headers show is
// checked before any cryptography, cheapest first: the fields' syntax
// (sig.malformed), the keyid and the alg parameter against the key's
// configured algorithm (their failures held back, for the operator's
// trace only), the route's required coverage (sig.insufficient_coverage),
// created/expires against the gateway clock (sig.expired, sig.clock_skew)
// and the nonce's presence. Then the signature base is rebuilt and the
// signature verified (sig.invalid); only now has the caller proved
// possession of the key. An unknown keyid, an alg that is not the key's
// and a signature that does not verify all answer sig.invalid, alike, so
// a caller cannot probe which keyids exist (§5: as an API key's wrong
// secret answers key.unknown). Then the body is
// checked against Content-Digest (sig.digest_mismatch) and, last, the
// nonce is recorded (sig.replayed), so that a request failing any earlier
// check does not burn its nonce, and a forged request cannot burn a
// legitimate client's nonce.
//
// Sub-packages: sfv (RFC 8941 structured fields) and sigkey (algorithms
// and key loading; standard library only, so the snapshot can hold
// compiled keys without an import cycle).
//
// Wiring (what the pipeline must do):
//   - extract: a signed request may carry no Authorization header. When
//     the route accepts http_signature and Present(r.Header) reports a
//     signature, use that Credential (Source SourceSignatureInput);
//     Recognizes keys on that Source only. A request carrying both a
//     signature and another credential is the pipeline's auth.ambiguous
//     decision (unless the signature covers "authorization", RFC 9421
//     §7.5.4, which a route may choose to allow).
//   - verify: call VerifyRequest(in, r, rules) with the *http.Request and
//     the route's compiled Rules (nil: Verifier.Rules). credential.Input
//     has no request, so Verify alone reports gateway.internal; once
//     Input gains a Request field, Verify can delegate.
//   - keys: Verifier.Keys maps the request's snapshot to its Keys; build
//     a Keyring per snapshot (sigkey.Parse or sigkey.NewHMAC once, at
//     build time) so the request path does no key parsing.
//   - body: VerifyRequest may replace r.Body (buffered, at most
//     Policy.MaxBody) when Content-Digest is present; forward r.Body after
//     it, never a reference taken before.
//   - replay: Verifier.Nonces (NewMemoryNonces on one node; a shared
//     store in cluster mode). ErrNonceStoreFull and store errors become
//     auth.backend_unavailable (503).
package httpsig

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"gatehouse/internal/authheader"
	"gatehouse/internal/credential"
	"gatehouse/internal/credential/httpsig/sfv"
	"gatehouse/internal/credential/httpsig/sigkey"
	"gatehouse/internal/domain"
	"gatehouse/internal/reason"
	"gatehouse/internal/snapshot"
	"gatehouse/internal/trace"
)

// Reason codes (catalogued in internal/reason; a test checks each).
const (
	CodeMissing              = "sig.missing"
	CodeMalformed            = "sig.malformed"
	CodeUnknownKey           = "sig.unknown_key"
	CodeInvalid              = reason.SigInvalid
	CodeExpired              = "sig.expired"
	CodeClockSkew            = "sig.clock_skew"
	CodeReplayed             = "sig.replayed"
	CodeInsufficientCoverage = "sig.insufficient_coverage"
	CodeDigestMismatch       = "sig.digest_mismatch"
)

// SourceSignatureInput is the authheader.Credential Source of a signed
// request (see Present).
const SourceSignatureInput = "signature-input"

// Key is a signing key as the request path sees it: the verification
// key and the credential it belongs to.
type Key struct {
	// ID is the keyid clients send.
	ID string
	// CredentialID is the credential's public id for the call log and
	// rejections ("" means ID).
	CredentialID string
	Verifier     *sigkey.Key
	Consumer     *snapshot.Consumer
	Scopes       []string
	ScopeHeader  string
	ExpiresAt    *time.Time
	IPAllow      []netip.Prefix
}

// Keys finds signing keys by keyid.
type Keys interface {
	Key(keyID string) (*Key, bool)
}

// Keyring is a fixed set of keys; it implements Keys. Build it once (per
// snapshot) and never modify it while in use.
type Keyring map[string]*Key

// Key implements Keys.
func (k Keyring) Key(id string) (*Key, bool) {
	v, ok := k[id]
	return v, ok
}

// Verifier verifies signed requests. Configure it once; it is safe for
// concurrent use.
type Verifier struct {
	// Keys returns the key set of the snapshot a request is served from.
	Keys func(*snapshot.Snapshot) Keys
	// Nonces records nonces against replay; nil disables replay
	// detection (a trace step says so).
	Nonces NonceStore
	// Rules applies where a route has none (nil: Policy{} compiled).
	Rules *Rules
	// Scheme is the scheme clients use to reach the gateway when it is
	// not what the listener sees (a TLS-terminating proxy in front);
	// "" derives it from the connection.
	Scheme string
}

var _ credential.Verifier = (*Verifier)(nil)

// Method implements credential.Verifier.
func (*Verifier) Method() string { return domain.AuthHTTPSignature }

// Recognizes implements credential.Verifier: a signed request is
// recognised by its Signature-Input or Signature field, whatever its
// Authorization header says (it may have none at all). The extract
// stage reports such a request with Present.
func (*Verifier) Recognizes(p authheader.Credential) bool {
	return p.Source == SourceSignatureInput
}

// Detect implements credential.Detector: a signed request may carry no
// Authorization header at all.
func (*Verifier) Detect(r *http.Request) (authheader.Credential, bool) { return Present(r.Header) }

// Present reports a signed request for the extract stage: a Credential
// with Source SourceSignatureInput when the request carries
// Signature-Input or Signature. Token is empty (nothing in these fields
// is secret) and Scheme names the fields for messages.
func Present(h http.Header) (authheader.Credential, bool) {
	if len(h[FieldSignatureInput]) == 0 && len(h[FieldSignature]) == 0 {
		return authheader.Credential{}, false
	}
	return authheader.Credential{Kind: authheader.Other, Scheme: "Signature", Source: SourceSignatureInput}, true
}

// Verify implements credential.Verifier: the signature covers
// in.Request, verified under the verifier's rules. An Input without a
// request is a wiring fault, reported as such.
func (v *Verifier) Verify(in *credential.Input) (credential.Identity, *reason.Error) {
	if in.Request != nil {
		return v.VerifyRequest(in, in.Request, nil)
	}
	const d = "the http_signature verifier needs the request: credential.Input.Request is nil"
	in.Trace.Private(stage, "sig.wiring", domain.OutcomeFail, d)
	return credential.Identity{}, &reason.Error{Code: reason.GatewayInternal, Debug: d}
}

const stage = "verify"

// state is the per-request scratch, pooled.
type state struct {
	sigs Signatures
	sc   scratch
	base []byte
}

var states = sync.Pool{New: func() any { return &state{base: make([]byte, 0, 1024)} }}

// VerifyRequest verifies the signature on r under rules (nil: the
// verifier's). in supplies the snapshot, the time and the trace. When
// content-digest is checked, r.Body is read (at most rules' MaxBody) and
// replaced with an equivalent reader, so the request stays forwardable.
func (v *Verifier) VerifyRequest(in *credential.Input, r *http.Request, rules *Rules) (credential.Identity, *reason.Error) {
	t := in.Trace
	if rules == nil {
		rules = v.Rules
		if rules == nil {
			rules = defaultRules
		}
	}
	p := &rules.p
	h := r.Header
	si, sg := h[FieldSignatureInput], h[FieldSignature]
	if len(si) == 0 && len(sg) == 0 {
		t.Fail(stage, "sig.fields", "no Signature-Input or Signature field")
		return fail(CodeMissing, "The request carries no Signature-Input and Signature fields; this route requires an RFC 9421 signature.", "")
	}
	if len(si) == 0 || len(sg) == 0 {
		missing, have := FieldSignatureInput, FieldSignature
		if len(sg) == 0 {
			missing, have = FieldSignature, FieldSignatureInput
		}
		d := "The request has a " + have + " field but no " + missing + " field; both are needed."
		t.Fail(stage, "sig.fields", d)
		return fail(CodeMalformed, d, "")
	}
	st := states.Get().(*state)
	defer func() {
		st.sigs = Signatures{}
		st.sc.reset()
		if cap(st.base) <= 64<<10 {
			st.base = st.base[:0]
			states.Put(st)
		}
	}()
	if err := st.sigs.parse(sfv.JoinLines(si), sfv.JoinLines(sg), &st.sc); err != nil {
		return malformed(t, err)
	}
	sin, sigBytes, err := st.sigs.Select(p.Label)
	if err != nil {
		return malformed(t, err)
	}
	t.Pass(stage, "sig.fields", "Signature-Input and Signature parsed")

	// Key.
	if sin.KeyID == "" {
		d := "Signature-Input member " + strconv.Quote(sin.Label) + " has no keyid parameter; this gateway finds keys by keyid."
		t.Fail(stage, "sig.key", d)
		return fail(CodeMalformed, d, "")
	}
	var keys Keys
	if v.Keys != nil {
		keys = v.Keys(in.Snap)
	}
	var key *Key
	if keys != nil {
		key, _ = keys.Key(sin.KeyID)
	}
	// Disclosure by possession (§5): before the signature verifies, the
	// caller learns nothing of which keyids exist — an unknown keyid, an
	// alg that is not the key's and a signature that does not verify get
	// one answer (sig.invalid, below), after the same checks of the
	// caller's own input (coverage, time); the operator's trace says which.
	// (An API key's wrong secret is key.unknown, like an unknown id, for
	// the same reason.)
	var credID string
	var alg sigkey.Algorithm
	noVerify := func() string {
		return "The signature " + strconv.Quote(sin.Label) + " does not verify with a key of keyid " + strconv.Quote(sin.KeyID) +
			" known to this gateway: check the keyid and the key the request was signed with."
	}
	var mismatch string // why the signature cannot verify, before trying it (operator only)
	switch {
	case key == nil:
		mismatch = "no signing key with keyid " + strconv.Quote(sin.KeyID) + " is known to this gateway"
		t.Private(stage, "sig.key", domain.OutcomeFail, mismatch)
	default:
		credID = key.CredentialID
		if credID == "" {
			credID = key.ID
		}
		alg = key.Verifier.Algorithm()
		if sin.Alg != "" && sin.Alg != string(alg) {
			// RFC 9421 §3.2 step 6: the alg parameter must match the key's.
			mismatch = "key " + credID + " verifies " + string(alg) + ", the request says " + sin.Alg
			t.Private(stage, "sig.alg", domain.OutcomeFail, mismatch)
		} else {
			t.Private(stage, "sig.key", domain.OutcomePass, "keyid known")
		}
	}

	// Coverage and parameters.
	hasBody := r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody
	if miss := rules.missing(sin, hasBody); len(miss) > 0 {
		d := "The signature does not cover " + strings.Join(miss, ", ") + ". This route requires " + rules.text + "."
		t.Fail(stage, "sig.coverage", d)
		return failID(CodeInsufficientCoverage, d, "", credID)
	}
	if p.Tag != "" && sin.Tag != p.Tag {
		d := "The signature's tag is " + strconv.Quote(sin.Tag) + "; this route requires tag " + strconv.Quote(p.Tag) + "."
		t.Fail(stage, "sig.coverage", d)
		return failID(CodeInsufficientCoverage, d, "", credID)
	}
	if !sin.HasCreated && !p.CreatedOptional {
		d := "The signature has no created parameter; this route requires one."
		t.Fail(stage, "sig.coverage", d)
		return failID(CodeInsufficientCoverage, d, "", credID)
	}
	if sin.Nonce == "" && !p.NonceOptional {
		d := "The signature has no nonce parameter; this route requires a fresh nonce on every request."
		t.Fail(stage, "sig.coverage", d)
		return failID(CodeInsufficientCoverage, d, "", credID)
	}
	t.Pass(stage, "sig.coverage", "required components and parameters covered")

	// Time.
	now := in.Now
	if sin.HasCreated {
		created := time.Unix(sin.Created, 0)
		if ahead := created.Sub(now); ahead > p.MaxSkew {
			d := "The signature was created " + ahead.Round(time.Second).String() + " in the future (created=" +
				strconv.FormatInt(sin.Created, 10) + ", " + created.UTC().Format(time.RFC3339) + "; gateway clock " +
				now.UTC().Format(time.RFC3339) + "); at most " + p.MaxSkew.String() + " of clock skew is allowed. Check the client's clock."
			t.Fail(stage, "sig.created", d)
			return failID(CodeClockSkew, d, "", credID)
		}
		if age := now.Sub(created); age > p.MaxAge {
			d := "The signature was created " + age.Round(time.Second).String() + " ago (created=" +
				strconv.FormatInt(sin.Created, 10) + ", " + created.UTC().Format(time.RFC3339) + "; gateway clock " +
				now.UTC().Format(time.RFC3339) + "); this route accepts signatures at most " + p.MaxAge.String() +
				" old. Sign each request as it is sent; if it was just signed, the client's clock is behind by about " +
				(age).Round(time.Second).String() + "."
			t.Fail(stage, "sig.created", d)
			return failID(CodeExpired, d, "", credID)
		}
		t.Pass(stage, "sig.created", "created within the allowed window")
	}
	if sin.HasExpires {
		exp := time.Unix(sin.Expires, 0)
		if late := now.Sub(exp); late > p.MaxSkew {
			d := "The signature expired " + late.Round(time.Second).String() + " ago (expires=" +
				strconv.FormatInt(sin.Expires, 10) + ", " + exp.UTC().Format(time.RFC3339) + "; gateway clock " +
				now.UTC().Format(time.RFC3339) + ", " + p.MaxSkew.String() + " of skew allowed)."
			t.Fail(stage, "sig.expires", d)
			return failID(CodeExpired, d, "", credID)
		}
		t.Pass(stage, "sig.expires", "not expired")
	}

	// Signature.
	msg := RequestMessage(r, v.Scheme)
	st.base, err = sin.AppendBase(st.base[:0], &msg)
	if err != nil {
		d := "The signature covers a component this request cannot supply: " + err.Error() + "."
		t.Fail(stage, "sig.base", d)
		return failID(CodeInvalid, d, "", credID)
	}
	if mismatch != "" {
		// The work a verification would have done, so the refusal is not
		// told apart by its speed: the key's own verification for an alg
		// mismatch; for an unknown keyid an HMAC's (the keyids that name
		// shared secrets are the ones worth hiding; a public key's
		// verification costs more than this, and its keyid is no secret).
		if key != nil {
			_ = key.Verifier.Verify(st.base, sigBytes)
		} else {
			mac := hmac.New(sha256.New, st.base[:min(len(st.base), 32)])
			mac.Write(st.base)
			_ = subtle.ConstantTimeCompare(mac.Sum(nil), sigBytes)
		}
		d := noVerify()
		t.Fail(stage, "sig.signature", d)
		return failID(CodeInvalid, d, mismatch, credID)
	}
	if err := key.Verifier.Verify(st.base, sigBytes); err != nil {
		// Bytes that are no signature of the key's algorithm at all (a
		// length, an encoding) get the same answer: saying why would name
		// the algorithm, and so that the keyid exists.
		d := noVerify()
		if !errors.Is(err, sigkey.ErrSignatureInvalid) {
			t.Private(stage, "sig.signature", domain.OutcomeFail, "not a valid "+string(alg)+" signature: "+err.Error())
		}
		t.Fail(stage, "sig.signature", d)
		debug := "signature base the gateway computed (" + string(alg) + "):\n" + redactBase(st.base)
		t.Private(stage, "sig.base", domain.OutcomeFail, debug)
		return failID(CodeInvalid, d, debug, credID)
	}
	t.Pass(stage, "sig.signature", "signature verifies (possession proven)")

	// Body.
	if cd := h[FieldContentDigest]; len(cd) > 0 {
		body, rerr := readBody(r, p.MaxBody)
		if rerr != nil {
			t.Fail(stage, "sig.digest", rerr.Detail)
			rerr.CredentialID, rerr.Possession = credID, true
			return credential.Identity{}, rerr
		}
		if err := VerifyContentDigest(sfv.JoinLines(cd), body); err != nil {
			code := CodeDigestMismatch
			var pe *ParseError
			if errors.As(err, &pe) {
				code = CodeMalformed
			}
			d := err.Error() + "."
			t.Fail(stage, "sig.digest", d)
			return possessed(code, d, credID)
		}
		t.Pass(stage, "sig.digest", "body matches Content-Digest")
	}

	// Replay.
	if v.Nonces != nil {
		ttl := replayTTL(sin, p, now)
		nonce := sin.Nonce
		if nonce == "" {
			// No nonce: the signature value itself identifies a replay
			// (a deterministic signature over the same content and
			// created second is the same request).
			sum := sha256.Sum256(sigBytes)
			nonce = "sig:" + base64.RawStdEncoding.EncodeToString(sum[:18])
		}
		seen, err := v.Nonces.Seen(r.Context(), sin.KeyID, nonce, ttl)
		if err != nil {
			t.Fail(stage, "sig.replay", "nonce store unavailable")
			return credential.Identity{}, &reason.Error{Code: reason.AuthBackendUnavailable, CredentialID: credID,
				Detail: "The gateway cannot check this signature for replay right now.", RetryAfter: 1,
				Debug: "nonce store: " + err.Error(), Err: err}
		}
		if seen {
			d := "This signature was already used (keyid " + strconv.Quote(sin.KeyID) + ", nonce " + strconv.Quote(sin.Nonce) +
				"). Sign each request anew with a fresh nonce."
			if sin.Nonce == "" {
				d = "This exact signature was already used (keyid " + strconv.Quote(sin.KeyID) + "). Sign each request anew, with a nonce."
			}
			t.Fail(stage, "sig.replay", d)
			return possessed(CodeReplayed, d, credID)
		}
		t.Pass(stage, "sig.replay", "nonce not seen before")
	} else {
		t.Skip(stage, "sig.replay", "no nonce store configured")
	}

	// Key lifecycle.
	if key.ExpiresAt != nil && !now.Before(*key.ExpiresAt) {
		d := "Signing key " + strconv.Quote(key.ID) + " expired at " + key.ExpiresAt.UTC().Format(time.RFC3339) + " (" +
			now.Sub(*key.ExpiresAt).Round(time.Second).String() + " ago)."
		t.Fail(stage, "sig.key_expiry", d)
		return possessed(reason.KeyExpired, d, credID)
	}
	return credential.Identity{Type: domain.AuthHTTPSignature, CredentialID: credID, Consumer: key.Consumer,
		Scopes: key.Scopes, ScopeHeader: key.ScopeHeader, ExpiresAt: key.ExpiresAt, IPAllow: key.IPAllow}, nil
}

// defaultRules is the zero Policy compiled; it cannot fail to compile
// (TestDefaultPolicy checks).
var defaultRules, _ = Policy{}.Compile()

// replayTTL is how long a nonce must be remembered: as long as the
// signature could still be accepted.
func replayTTL(in *Input, p *Policy, now time.Time) time.Duration {
	var until time.Time
	switch {
	case in.HasCreated:
		until = time.Unix(in.Created, 0).Add(p.MaxAge)
	default:
		until = now.Add(p.MaxAge)
	}
	if in.HasExpires {
		if e := time.Unix(in.Expires, 0).Add(p.MaxSkew); e.Before(until) {
			until = e
		}
	}
	ttl := until.Sub(now) + time.Second
	if ttl < time.Second {
		ttl = time.Second
	}
	return ttl
}

// readBody reads the body for Content-Digest, at most max bytes, and
// puts an equivalent body back so the request can still be forwarded.
func readBody(r *http.Request, max int64) ([]byte, *reason.Error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > max {
		return nil, &reason.Error{Code: reason.RequestTooLarge,
			Detail: "The body is " + strconv.FormatInt(r.ContentLength, 10) + " bytes; this gateway verifies Content-Digest on bodies of at most " +
				strconv.FormatInt(max, 10) + " bytes."}
	}
	n := r.ContentLength
	if n < 0 {
		n = 512
	}
	buf := bytes.NewBuffer(make([]byte, 0, n+1))
	_, err := buf.ReadFrom(io.LimitReader(r.Body, max+1))
	if err != nil {
		return nil, &reason.Error{Code: CodeDigestMismatch, Detail: "The body could not be read in full: " + err.Error() + ".", Err: err}
	}
	if int64(buf.Len()) > max {
		return nil, &reason.Error{Code: reason.RequestTooLarge,
			Detail: "The body is larger than the " + strconv.FormatInt(max, 10) + " bytes this gateway verifies Content-Digest on."}
	}
	body := buf.Bytes()
	_ = r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	r.ContentLength = int64(len(body))
	return body, nil
}

// sensitive lists fields whose values never enter a trace, even the
// operator's: they are credentials in their own right.
var sensitive = []string{`"authorization"`, `"proxy-authorization"`, `"cookie"`, `"x-api-key"`}

// redactBase replaces the values of sensitive fields in a signature base.
func redactBase(base []byte) string {
	lines := strings.Split(string(base), "\n")
	for i, l := range lines {
		for _, s := range sensitive {
			if strings.HasPrefix(l, s) {
				if j := strings.Index(l, ": "); j >= 0 {
					lines[i] = l[:j+2] + "<redacted>"
				}
			}
		}
	}
	return strings.Join(lines, "\n")
}

func malformed(t *trace.Trace, err error) (credential.Identity, *reason.Error) {
	d := err.Error() + "."
	t.Fail(stage, "sig.fields", d)
	return fail(CodeMalformed, d, "")
}

func fail(code, detail, debug string) (credential.Identity, *reason.Error) {
	return credential.Identity{}, &reason.Error{Code: code, Detail: detail, Debug: debug}
}

// failID is a failure before the signature verified: the credential id
// goes to the operator (call record, log), not to the caller, who named
// the key only by its keyid and has proved nothing yet (§5).
func failID(code, detail, debug, credID string) (credential.Identity, *reason.Error) {
	return credential.Identity{}, &reason.Error{Code: code, Detail: detail, Debug: debug, CredentialID: credID, PrivateID: true}
}

func possessed(code, detail, credID string) (credential.Identity, *reason.Error) {
	return credential.Identity{}, &reason.Error{Code: code, Detail: detail, CredentialID: credID, Possession: true}
}
