// Package basic verifies HTTP Basic credentials (RFC 7617) against
// "basic" credentials whose passwords are stored as argon2id PHC strings
// (secrets.HashPassword): the "basic" method of credential.Verifier.
//
// # Order of checks, and why
//
//  1. Shape, offline: length, base64 (the detail says what is wrong: the
//     plain text was sent, the URL-safe alphabet, missing padding, a
//     stray byte), the ':' separator, an empty user-id, control
//     characters (a trailing line break from `echo` is named as such).
//     basic.malformed (400): nothing was checked against any user yet.
//  2. The lockout (lockout.go): a username or client address with too
//     many recent failures is refused with basic.locked_out (429) before
//     the cache and before argon2id, whether or not the user exists.
//  3. The cache of recent successful verifications (see below).
//  4. The user, then argon2id. An unknown user costs the same argon2id
//     work as a wrong password (secrets.VerifyDummy with the same
//     parameters), and both answer basic.invalid_credentials with the same
//     detail; only the operator's trace says which it was.
//  5. Lifecycle of the credential (ExpiresAt), once possession is proven.
//
// # The cache, and its trade-off
//
// argon2id is deliberately slow and memory-hard (≈19 MiB and tens of
// milliseconds per check with the parameters of package secrets); a
// client sending the same Basic credentials on every request would pay
// that each time. Successful verifications are therefore remembered for
// CacheTTL (default 1 minute) under SHA-256(k ‖ user ":" password), where
// k is a random key drawn when the Verifier is made. The cost: while an
// entry lives, the process holds a fast hash of a password, so a memory
// dump allows guessing that password at SHA-256 speed rather than argon2
// speed (k only stops precomputed tables and comparisons across
// gateways). The TTL and size bound that exposure; CacheSize < 0 turns
// the cache off for deployments that prefer the CPU cost. A cache hit is
// honoured only while the user still exists with the very same password
// hash, so a changed password or a removed credential takes effect at
// once, not after the TTL. Failures are never cached.
//
// Concurrent identical checks (a burst of requests with the same new
// credentials) share one argon2id computation, and at most
// MaxConcurrentHashes computations run at once so that a flood of wrong
// passwords cannot make the gateway allocate 19 MiB per request; a check
// that waits longer than QueueWait for its turn is answered with
// auth.backend_unavailable (503).
package basic

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"gatehouse/internal/authheader"
	"gatehouse/internal/credential"
	"gatehouse/internal/digestcache"
	"gatehouse/internal/domain"
	"gatehouse/internal/reason"
	"gatehouse/internal/secrets"
	"gatehouse/internal/snapshot"
)

// Reason codes (catalogued in internal/reason).
const (
	CodeMalformed          = "basic.malformed"
	CodeInvalidCredentials = "basic.invalid_credentials"
	// CodeLockedOut: too many recent failures for the username or from
	// the client address (not in the contract's table, which predates the
	// lockout).
	CodeLockedOut = "basic.locked_out"
)

// Defaults for Options fields left zero.
const (
	DefaultCacheSize = 10000
	DefaultCacheTTL  = time.Minute
	DefaultQueueWait = 2 * time.Second
	// MaxTokenBytes bounds the base64 text: 4 KiB encodes 3 KiB of
	// user-id and password, far more than any real pair.
	MaxTokenBytes = 4096
)

// User is a basic credential as the request path sees it; the
// integrator builds one per domain.Credential of type basic.
type User struct {
	// CredentialID is the credential's public id (domain.Credential.ID).
	CredentialID string
	Username     string
	// PasswordHash is the argon2id PHC string (domain.Credential.PasswordHash).
	PasswordHash string
	Consumer     *snapshot.Consumer
	Scopes       []string
	ScopeHeader  string
	ExpiresAt    *time.Time
	IPAllow      []netip.Prefix
}

// Users finds basic credentials by username. The server implements it
// over the snapshot's live (not revoked) basic credentials; usernames are
// compared exactly (case-sensitively).
type Users interface {
	User(username string) *User
}

// Options configures a Verifier.
type Options struct {
	// Users returns the users of the request's snapshot.
	Users func(in *credential.Input) Users
	// CacheSize is how many successful verifications to remember (default
	// 10 000; negative: none).
	CacheSize int
	// CacheTTL is how long one is remembered (default 1 minute).
	CacheTTL time.Duration
	// MaxConcurrentHashes bounds the argon2id computations running at once
	// (default GOMAXPROCS).
	MaxConcurrentHashes int
	// QueueWait is how long a check waits for its turn (default 2 s).
	QueueWait time.Duration
	// Lockout counts failed attempts per username and per client address
	// (on by default; see lockout.go).
	Lockout Lockout
	Logger  *slog.Logger
}

// Verifier implements credential.Verifier for Basic credentials. It is
// safe for concurrent use.
type Verifier struct {
	o     Options
	key   [32]byte // cache-key salt, random per Verifier
	cache *digestcache.LRU[*entry]
	group digestcache.Flights[*result]
	slots chan struct{}
	lock  *lockout // nil: no lockout
	// hitDetail is the trace detail of a cache hit, made once.
	hitDetail string
	// verify and dummy are secrets.VerifyPassword and secrets.VerifyDummy;
	// tests wrap them to see which path a request took.
	verify func(hash string, password []byte) (bool, error)
	dummy  func(password []byte)
}

var _ credential.Verifier = (*Verifier)(nil)

// entry is a successful verification; immutable once cached.
type entry struct {
	username   string
	hash       string // the PasswordHash it was verified against
	validUntil time.Time
}

type noUsers struct{}

func (noUsers) User(string) *User { return nil }

// New returns a Verifier.
func New(o Options) *Verifier {
	if o.Users == nil {
		o.Users = func(*credential.Input) Users { return noUsers{} }
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = DefaultCacheTTL
	}
	if o.MaxConcurrentHashes <= 0 {
		o.MaxConcurrentHashes = runtime.GOMAXPROCS(0)
	}
	if o.QueueWait <= 0 {
		o.QueueWait = DefaultQueueWait
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	v := &Verifier{o: o, slots: make(chan struct{}, o.MaxConcurrentHashes), lock: newLockout(o.Lockout),
		verify: secrets.VerifyPassword, dummy: secrets.VerifyDummy,
		hitDetail: "verified within the last " + o.CacheTTL.String() + " (password not re-hashed)"}
	// crypto/rand.Read never fails (Go ≥ 1.24).
	_, _ = rand.Read(v.key[:])
	switch {
	case o.CacheSize == 0:
		v.cache = digestcache.NewLRU[*entry](DefaultCacheSize)
	case o.CacheSize > 0:
		v.cache = digestcache.NewLRU[*entry](o.CacheSize)
	}
	return v
}

// Method implements credential.Verifier.
func (*Verifier) Method() string { return domain.AuthBasic }

// Recognizes implements credential.Verifier: "Authorization: Basic …".
func (*Verifier) Recognizes(p authheader.Credential) bool { return p.Kind == authheader.Basic }

const stage = "verify"

// Trace checks.
const (
	ckFormat   = "basic.format"
	ckLockout  = "basic.lockout"
	ckCache    = "basic.cache"
	ckUser     = "basic.user"
	ckPassword = "basic.password"
	ckExpiry   = "basic.expiry"
)

// invalidDetail is the one answer for an unknown user and a wrong
// password, so the response cannot tell them apart.
const invalidDetail = "The username or the password is wrong."

// result is what one (possibly shared) verification established.
type result struct {
	user    *User   // nil: unknown user
	ok      bool    // password matched
	private string  // operator-only trace detail
	busy    bool    // no argon2id slot within QueueWait
	locked  refusal // refused by the lockout; argon2id did not run
	badHash error   // the stored hash is unusable
}

// Verify implements credential.Verifier.
func (v *Verifier) Verify(in *credential.Input) (credential.Identity, *reason.Error) {
	t := in.Trace
	var buf [256]byte
	dec, colon, rerr := decode(buf[:0], in.Presented.Token)
	if rerr != nil {
		t.Fail(stage, ckFormat, rerr.Detail)
		return credential.Identity{}, rerr
	}
	user, pw := dec[:colon], dec[colon+1:]
	t.Pass(stage, ckFormat, "base64 of user-id:password")
	now := in.Now.UnixNano()
	// The lockout comes before the cache (see lockout.go for why); with
	// no failures anywhere it costs two atomic loads.
	var lk lockKeys
	if v.lock != nil && !v.lock.empty() {
		lk = v.lock.keys(user, in.ClientIP)
		if r := v.lock.locked(&lk, now); r.which != lockedNone {
			return credential.Identity{}, v.lockedOut(in, r, user, now)
		}
	}
	users := v.o.Users(in)

	sum := v.sum(dec)
	if v.cache != nil {
		if e, ok := v.cache.Get(sum); ok {
			if u := users.User(e.username); u != nil && u.PasswordHash == e.hash && in.Now.Before(e.validUntil) {
				t.Pass(stage, ckCache, v.hitDetail)
				if lk.userFound {
					v.lock.users.reset(lk.user) // proven: forget the username's failures
				}
				return v.lifecycle(in, u, sum, false)
			}
			v.cache.Remove(sum)
		}
	}

	// One argon2id computation for concurrent identical checks: the key is
	// a digest of the credentials, never the password itself.
	a := &attempt{users: users, username: string(user), pw: bytes.Clone(pw), ip: in.ClientIP, now: now}
	if v.lock != nil {
		a.keys = v.lock.keys(user, in.ClientIP)
	}
	r := v.fresh(a, sum)
	switch {
	case r.locked.which != lockedNone:
		return credential.Identity{}, v.lockedOut(in, r.locked, user, now)
	case r.busy:
		d := "The gateway is checking too many passwords at once; retry shortly."
		t.Fail(stage, ckPassword, d)
		return credential.Identity{}, &reason.Error{Code: reason.AuthBackendUnavailable, Detail: d, RetryAfter: 1,
			Debug: "basic: no argon2id slot within " + v.o.QueueWait.String() + " (MaxConcurrentHashes " + strconv.Itoa(v.o.MaxConcurrentHashes) + ")"}
	case !r.ok:
		t.Fail(stage, ckPassword, invalidDetail)
		t.Private(stage, ckUser, domain.OutcomeFail, r.private)
		if r.badHash != nil {
			v.o.Logger.Error("basic: stored password hash unusable", "credential", r.user.CredentialID, "err", r.badHash)
		}
		return credential.Identity{}, &reason.Error{Code: CodeInvalidCredentials, Detail: invalidDetail, Debug: r.private}
	}
	t.Pass(stage, ckPassword, "password matches (possession proven)")
	return v.lifecycle(in, r.user, sum, v.cache != nil)
}

// attempt is one check to run. pw is the caller's own copy: the closure
// in fresh keeps it, so it must not point into Verify's stack buffer
// (which would then move to the heap on every call, cache hits included).
type attempt struct {
	users    Users
	username string
	pw       []byte
	ip       netip.Addr
	keys     lockKeys
	now      int64 // unix nanoseconds
}

// fresh runs (or joins) the check of one user-id and password.
func (v *Verifier) fresh(a *attempt, sum [32]byte) *result {
	r, _ := v.group.Do(sum, func() *result { return v.check(a) })
	return r
}

// check charges the attempt to the lockout counters, then runs argon2id
// and records the outcome there.
func (v *Verifier) check(a *attempt) *result {
	if v.lock == nil {
		return v.hash(a.users, a.username, a.pw)
	}
	if rf := v.lock.charge(a.keys, a.now); rf.which != lockedNone {
		return &result{locked: rf}
	}
	r := v.hash(a.users, a.username, a.pw)
	switch {
	case r.busy:
		v.lock.uncharged(a.keys)
	case r.ok:
		v.lock.succeeded(a.keys)
	default:
		userUntil, ipUntil := v.lock.failed(a.keys, a.now)
		if userUntil != 0 {
			v.o.Logger.Warn("basic: username locked out after repeated failures", "username", a.username,
				"failures", v.lock.users.max, "window", v.lock.window.String(), "until", time.Unix(0, userUntil).UTC())
		}
		if ipUntil != 0 {
			v.o.Logger.Warn("basic: client address locked out after repeated failures", "client", ipLabel(a.ip),
				"failures", v.lock.ips.max, "window", v.lock.window.String(), "until", time.Unix(0, ipUntil).UTC())
		}
	}
	return r
}

// hash looks the user up and runs argon2id, against the user's hash or,
// for an unknown user, a dummy of the same cost.
func (v *Verifier) hash(users Users, username string, pw []byte) *result {
	timer := time.NewTimer(v.o.QueueWait)
	select {
	case v.slots <- struct{}{}:
		timer.Stop()
	case <-timer.C:
		return &result{busy: true}
	}
	defer func() { <-v.slots }()
	u := users.User(username)
	if u == nil {
		v.dummy(pw)
		return &result{private: "no basic credential with username " + strconv.Quote(username) + " (a dummy argon2id hash was checked, so the answer took as long as a wrong password's)"}
	}
	ok, err := v.verify(u.PasswordHash, pw)
	switch {
	case err != nil:
		v.dummy(pw) // the answer takes as long as any other failure's
		return &result{user: u, badHash: err,
			private: "credential " + u.CredentialID + ": the stored password hash is unusable (" + err.Error() + "); reset the password"}
	case !ok:
		return &result{user: u, private: "user " + strconv.Quote(username) + " exists (credential " + u.CredentialID + "), the password does not match"}
	}
	return &result{user: u, ok: true}
}

// lockedOut is the refusal of an attempt the lockout did not let through.
// The caller's detail is the same for a username and an address, known
// user or not; the operator's says which counter and until when.
func (v *Verifier) lockedOut(in *credential.Input, r refusal, user []byte, now int64) *reason.Error {
	t := in.Trace
	var who string
	var c *counters
	if r.which == lockedIP {
		who, c = "client address "+ipLabel(in.ClientIP), v.lock.ips
	} else {
		who, c = "username "+strconv.Quote(string(user)), v.lock.users
	}
	limit := strconv.Itoa(c.max) + " failed attempts within " + v.lock.window.String()
	var detail, private string
	retry := 1
	if r.until == 0 {
		detail = "Too many failed attempts: Basic credentials for this username or from this address are refused while earlier attempts are still being checked."
		private = who + " has reached " + strconv.Itoa(c.max) + " attempts within " + v.lock.window.String() +
			", some still being checked; refused without checking the password (a burst of guesses?)"
	} else {
		until := time.Unix(0, r.until).UTC().Format(time.RFC3339)
		detail = "Too many failed attempts: Basic credentials for this username or from this address are refused until " + until + "."
		private = who + " is locked out until " + until + " after " + limit + " (the password was not checked)"
		retry = max(int((r.until-now+int64(time.Second)-1)/int64(time.Second)), 1)
	}
	t.Fail(stage, ckLockout, detail)
	t.Private(stage, ckLockout, domain.OutcomeFail, private)
	return &reason.Error{Code: CodeLockedOut, Detail: detail, RetryAfter: retry, Debug: private, RateLimitPolicy: v.lock.policy}
}

// lifecycle checks the credential's expiry (possession is proven) and
// caches a fresh success.
func (v *Verifier) lifecycle(in *credential.Input, u *User, sum [32]byte, store bool) (credential.Identity, *reason.Error) {
	t := in.Trace
	if u.ExpiresAt != nil && !in.Now.Before(*u.ExpiresAt) {
		d := "The credentials of user " + strconv.Quote(u.Username) + " expired at " + u.ExpiresAt.UTC().Format(time.RFC3339) +
			" (" + in.Now.Sub(*u.ExpiresAt).Round(time.Second).String() + " ago)."
		t.Fail(stage, ckExpiry, d)
		return credential.Identity{}, &reason.Error{Code: CodeInvalidCredentials, Detail: d, CredentialID: u.CredentialID, Possession: true,
			Hint: "Ask the owner of application '" + u.Consumer.Name + "' for new credentials."}
	}
	if store {
		until := in.Now.Add(v.o.CacheTTL)
		if u.ExpiresAt != nil && u.ExpiresAt.Before(until) {
			until = *u.ExpiresAt
		}
		v.cache.Put(sum, &entry{username: u.Username, hash: u.PasswordHash, validUntil: until})
	}
	id := credential.Identity{Type: domain.AuthBasic, CredentialID: u.CredentialID, Consumer: u.Consumer,
		Scopes: u.Scopes, ScopeHeader: u.ScopeHeader, ExpiresAt: u.ExpiresAt, IPAllow: u.IPAllow}
	if u.ExpiresAt != nil && in.ExpiryWarning > 0 && u.ExpiresAt.Sub(in.Now) <= in.ExpiryWarning {
		id.ExpiresHeader = u.ExpiresAt.UTC().Format(time.RFC3339)
		t.Pass(stage, ckExpiry, "expires soon: warning header sent")
	}
	return id, nil
}

// sum is the cache key: SHA-256 of the Verifier's random key and the
// decoded "user:password".
func (v *Verifier) sum(dec []byte) [32]byte {
	var buf [32 + 256]byte
	b := append(buf[:0], v.key[:]...)
	b = append(b, dec...) // allocates only for credentials over 256 bytes
	return sha256.Sum256(b)
}

// Decode decodes the token of "Authorization: Basic <token>" into the
// user-id and the password. The error is basic.malformed with a detail
// naming the problem; it never quotes the password.
func Decode(token string) (user, password string, rerr *reason.Error) {
	dec, colon, rerr := decode(nil, token)
	if rerr != nil {
		return "", "", rerr
	}
	return string(dec[:colon]), string(dec[colon+1:]), nil
}

// decode appends the decoded token to dst and returns it with the index
// of the first ':'.
func decode(dst []byte, token string) ([]byte, int, *reason.Error) {
	if token == "" {
		return nil, 0, malformed("The Basic credentials are empty; send base64 of 'user:password'.")
	}
	if len(token) > MaxTokenBytes {
		return nil, 0, malformed("The Basic credentials are " + strconv.Itoa(len(token)) + " bytes long; the limit is " + strconv.Itoa(MaxTokenBytes) + ".")
	}
	if i := strings.IndexAny(token, "\r\n"); i >= 0 {
		// The decoder would skip line breaks; a header value cannot carry
		// them, so one here was put there by a caller of Decode.
		return nil, 0, malformed("The Basic credentials contain a line break at position " + strconv.Itoa(i+1) + ".")
	}
	n := base64.StdEncoding.DecodedLen(len(token))
	if cap(dst) < n {
		dst = make([]byte, 0, n)
	}
	dec := dst[:n]
	n, err := strictBase64.Decode(dec, unsafeBytes(token))
	if err != nil {
		return nil, 0, malformed(base64Problem(token, err))
	}
	dec = dec[:n]
	colon := -1
	for i, c := range dec {
		if c == ':' {
			colon = i
			break
		}
	}
	switch {
	case colon < 0:
		return nil, 0, malformed("The decoded Basic credentials have no ':' between user-id and password; send base64 of 'user:password'.")
	case colon == 0:
		return nil, 0, malformed("The user-id before ':' is empty.")
	}
	if i := ctl(dec[:colon]); i >= 0 {
		return nil, 0, malformed("The user-id contains the control character " + byteName(dec[i]) + " at position " + strconv.Itoa(i+1) + "; RFC 7617 allows none.")
	}
	if i := ctl(dec[colon+1:]); i >= 0 {
		pw := dec[colon+1:]
		if i == len(pw)-1 && (pw[i] == '\n' || pw[i] == '\r') {
			return nil, 0, malformed("The password ends with a line break: was 'user:password' encoded with `echo` instead of `echo -n` or `printf`?")
		}
		return nil, 0, malformed("The password contains a control character (" + byteName(pw[i]) + "); RFC 7617 allows none.")
	}
	return dec, colon, nil
}

// base64Problem explains why token is not standard, padded base64,
// starting with the mistakes people actually make.
func base64Problem(token string, err error) string {
	const want = " Send the standard base64 (RFC 4648 §4) of 'user:password'."
	switch {
	case strings.IndexByte(token, ':') >= 0:
		return "The Basic credentials contain ':', so they were sent as plain text, not base64." + want
	case strings.ContainsAny(token, "-_"):
		return "The Basic credentials use the URL-safe base64 alphabet ('-' or '_'); Basic uses '+' and '/'." + want
	case len(token)%4 != 0 && !strings.Contains(token, "="):
		if _, rerr := base64.RawStdEncoding.DecodeString(token); rerr == nil {
			return "The Basic credentials lack their '=' padding (the length " + strconv.Itoa(len(token)) + " is not a multiple of 4)." + want
		}
	}
	if _, lerr := base64.StdEncoding.DecodeString(token); lerr == nil {
		return "The Basic credentials are not canonical base64: the character before the padding has unused bits set (was the value edited by hand?)." + want
	}
	if ce, ok := err.(base64.CorruptInputError); ok {
		i := int(ce)
		if p := strings.IndexByte(token, '='); p >= 0 && strings.TrimRight(token[p:], "=") != "" {
			return "The Basic credentials are not valid base64: '=' at position " + strconv.Itoa(p+1) + " is padding, which may only end the value." + want
		}
		if i < len(token) && !isBase64(token[i]) && token[i] != '=' {
			return "The Basic credentials are not valid base64: unexpected " + byteName(token[i]) + " at position " + strconv.Itoa(i+1) + "." + want
		}
		return "The Basic credentials are not valid base64: they end early or were cut (" + strconv.Itoa(len(token)) + " characters; base64 comes in groups of 4)." + want
	}
	return "The Basic credentials are not valid base64." + want
}

func isBase64(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/'
}

// ctl returns the index of the first control character, or -1.
func ctl(b []byte) int {
	for i, c := range b {
		if c < 0x20 || c == 0x7f {
			return i
		}
	}
	return -1
}

// byteName names a byte for a detail: printable ASCII quoted, anything
// else in hex.
func byteName(c byte) string {
	switch {
	case c == ' ':
		return "space"
	case c == '\t':
		return "tab"
	case c == '\n':
		return "line feed"
	case c == '\r':
		return "carriage return"
	case c > 0x20 && c < 0x7f:
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

// strictBase64 rejects non-canonical encodings (RFC 4648 §3.5), so one
// pair of credentials has exactly one accepted token.
var strictBase64 = base64.StdEncoding.Strict()

func malformed(d string) *reason.Error { return &reason.Error{Code: CodeMalformed, Detail: d} }

// unsafeBytes views s as bytes without copying; the result is only read.
func unsafeBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }
