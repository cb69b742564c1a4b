package basic

import (
	"encoding/base64"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/authheader"
	"gatehouse/internal/credential"
	"gatehouse/internal/domain"
	"gatehouse/internal/reason"
	"gatehouse/internal/secrets"
	"gatehouse/internal/snapshot"
	"gatehouse/internal/trace"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// userMap implements Users over a map, as the server does over the
// snapshot.
type userMap map[string]*User

func (m userMap) User(name string) *User { return m[name] }

// hashes are made once per test binary: argon2id is slow on purpose.
var hashes = struct {
	once sync.Once
	m    map[string]string
}{}

func hashOf(t testing.TB, pw string) string {
	t.Helper()
	hashes.once.Do(func() {
		hashes.m = map[string]string{}
		for _, p := range []string{"s3cret pass", "other", "p:with:colons", ""} {
			h, err := secrets.HashPassword([]byte(p))
			if err != nil {
				panic(err)
			}
			hashes.m[p] = h
		}
	})
	h, ok := hashes.m[pw]
	if !ok {
		t.Fatalf("no precomputed hash for %q", pw)
	}
	return h
}

var shop = &snapshot.Consumer{Consumer: domain.Consumer{ID: "c_shop", Name: "shop-mobile", Status: domain.StatusActive}}

// counted is a Verifier whose argon2id paths are counted.
type counted struct {
	*Verifier
	verifies, dummies atomic.Int32
}

func newCounted(t testing.TB, users Users, o Options) *counted {
	t.Helper()
	o.Users = func(*credential.Input) Users { return users }
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	c := &counted{Verifier: New(o)}
	c.verify = func(h string, p []byte) (bool, error) { c.verifies.Add(1); return secrets.VerifyPassword(h, p) }
	c.dummy = func(p []byte) { c.dummies.Add(1); secrets.VerifyDummy(p) }
	return c
}

func input(token string, now time.Time) *credential.Input {
	return &credential.Input{Presented: authheader.Credential{Kind: authheader.Basic, Scheme: "Basic", Token: token, Source: authheader.SourceAuthorization},
		Now: now, Trace: &trace.Trace{}}
}

func enc(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func testUsers(t testing.TB) userMap {
	exp := t0.Add(-time.Hour)
	soon := t0.Add(time.Hour)
	return userMap{
		"alice":   {CredentialID: "cr_alice", Username: "alice", PasswordHash: hashOf(t, "s3cret pass"), Consumer: shop, Scopes: []string{"read"}, ScopeHeader: "read"},
		"colons":  {CredentialID: "cr_colons", Username: "colons", PasswordHash: hashOf(t, "p:with:colons"), Consumer: shop},
		"empty":   {CredentialID: "cr_empty", Username: "empty", PasswordHash: hashOf(t, ""), Consumer: shop},
		"old":     {CredentialID: "cr_old", Username: "old", PasswordHash: hashOf(t, "other"), Consumer: shop, ExpiresAt: &exp},
		"soon":    {CredentialID: "cr_soon", Username: "soon", PasswordHash: hashOf(t, "other"), Consumer: shop, ExpiresAt: &soon},
		"corrupt": {CredentialID: "cr_corrupt", Username: "corrupt", PasswordHash: "$argon2id$v=19$m=0,t=1,p=1$AAAA$AAAA", Consumer: shop},
	}
}

func TestVerify(t *testing.T) {
	users := testUsers(t)
	cases := []struct {
		desc       string
		token      string
		code       string // "" = success
		credID     string
		possession bool
		detail     string // substring of the caller's detail
		private    string // substring of the operator-only trace step
		verifies   int32
		dummies    int32
	}{
		{desc: "right password", token: enc("alice:s3cret pass"), credID: "cr_alice", verifies: 1},
		{desc: "password with colons: only the first ':' separates", token: enc("colons:p:with:colons"), credID: "cr_colons", verifies: 1},
		{desc: "empty password is a password", token: enc("empty:"), credID: "cr_empty", verifies: 1},
		{desc: "wrong password", token: enc("alice:s3cret pas"), code: CodeInvalidCredentials, detail: invalidDetail,
			private: `user "alice" exists`, verifies: 1},
		{desc: "unknown user takes the dummy hash path", token: enc("mallory:s3cret pass"), code: CodeInvalidCredentials, detail: invalidDetail,
			private: "dummy argon2id hash was checked", dummies: 1},
		{desc: "username is case-sensitive", token: enc("Alice:s3cret pass"), code: CodeInvalidCredentials, detail: invalidDetail, dummies: 1},
		{desc: "expired credential, possession proven", token: enc("old:other"), code: CodeInvalidCredentials, possession: true, credID: "cr_old",
			detail: `user "old" expired at 2026-03-01T11:00:00Z (1h0m0s ago)`, verifies: 1},
		{desc: "unusable stored hash", token: enc("corrupt:x"), code: CodeInvalidCredentials, detail: invalidDetail,
			private: "stored password hash is unusable", verifies: 1, dummies: 1},
		{desc: "malformed: no colon", token: enc("alice"), code: CodeMalformed, detail: "no ':'"},
		{desc: "malformed: plain text", token: "alice:s3cret", code: CodeMalformed, detail: "plain text"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			v := newCounted(t, users, Options{})
			in := input(tc.token, t0)
			id, rerr := v.Verify(in)
			if tc.code == "" {
				if rerr != nil {
					t.Fatalf("rejected: %v", rerr)
				}
				if id.CredentialID != tc.credID || id.Consumer != shop || id.Type != domain.AuthBasic {
					t.Fatalf("identity %+v", id)
				}
			} else {
				if rerr == nil {
					t.Fatalf("accepted, want %s", tc.code)
				}
				if rerr.Code != tc.code || rerr.Possession != tc.possession || rerr.CredentialID != tc.credID {
					t.Fatalf("got %s possession=%v cred=%q, want %s possession=%v cred=%q", rerr.Code, rerr.Possession, rerr.CredentialID, tc.code, tc.possession, tc.credID)
				}
				if !strings.Contains(rerr.Detail, tc.detail) {
					t.Fatalf("detail %q lacks %q", rerr.Detail, tc.detail)
				}
				if _, ok := reason.Lookup(rerr.Code); !ok {
					t.Fatalf("code %s not catalogued", rerr.Code)
				}
			}
			if tc.private != "" && !hasStep(in.Trace, tc.private, true) {
				t.Fatalf("no private trace step with %q: %+v", tc.private, in.Trace.Steps())
			}
			if got := v.verifies.Load(); got != tc.verifies {
				t.Errorf("argon2id against the user's hash ran %d times, want %d", got, tc.verifies)
			}
			if got := v.dummies.Load(); got != tc.dummies {
				t.Errorf("dummy argon2id ran %d times, want %d", got, tc.dummies)
			}
			for _, s := range in.Trace.Steps() {
				if strings.Contains(s.Detail, "s3cret") {
					t.Fatalf("trace step leaks the password: %+v", s)
				}
			}
		})
	}
}

// TestUnknownUserSameAnswer: an unknown user and a wrong password give
// the caller byte-identical rejections; only the private steps differ.
func TestUnknownUserSameAnswer(t *testing.T) {
	v := newCounted(t, testUsers(t), Options{})
	_, wrong := v.Verify(input(enc("alice:nope"), t0))
	_, unknown := v.Verify(input(enc("nobody:nope"), t0))
	if wrong.View(false) != unknown.View(false) {
		t.Fatalf("caller views differ:\n%+v\n%+v", wrong.View(false), unknown.View(false))
	}
	if v.verifies.Load() != 1 || v.dummies.Load() != 1 {
		t.Fatalf("verifies %d dummies %d, want 1 and 1", v.verifies.Load(), v.dummies.Load())
	}
}

func hasStep(tr *trace.Trace, sub string, private bool) bool {
	for _, s := range tr.Steps() {
		if s.Private == private && strings.Contains(s.Detail, sub) {
			return true
		}
	}
	return false
}

func TestCache(t *testing.T) {
	good := enc("alice:s3cret pass")
	cases := []struct {
		desc string
		// between runs after a first successful verification at t0
		change   func(users userMap)
		at       time.Time
		o        Options
		code     string
		verifies int32 // in total, including the first
	}{
		{desc: "repeat within TTL is answered from the cache", at: t0.Add(59 * time.Second), verifies: 1},
		{desc: "after the TTL argon2id runs again", at: t0.Add(time.Minute), verifies: 2},
		{desc: "custom TTL", at: t0.Add(10 * time.Second), o: Options{CacheTTL: 10 * time.Second}, verifies: 2},
		{desc: "cache off", at: t0.Add(time.Second), o: Options{CacheSize: -1}, verifies: 2},
		{desc: "password changed: the cached success no longer counts", at: t0.Add(time.Second), verifies: 2, code: CodeInvalidCredentials,
			change: func(u userMap) { c := *u["alice"]; c.PasswordHash = hashOf(t, "other"); u["alice"] = &c }},
		{desc: "credential removed: rejected at once", at: t0.Add(time.Second), verifies: 1, code: CodeInvalidCredentials,
			change: func(u userMap) { delete(u, "alice") }},
		{desc: "credential expired since: rejected on the cached path too", at: t0.Add(30 * time.Second), verifies: 1, code: CodeInvalidCredentials,
			change: func(u userMap) { c := *u["alice"]; e := t0.Add(20 * time.Second); c.ExpiresAt = &e; u["alice"] = &c }},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			users := testUsers(t)
			v := newCounted(t, users, tc.o)
			if _, rerr := v.Verify(input(good, t0)); rerr != nil {
				t.Fatal(rerr)
			}
			if tc.change != nil {
				tc.change(users)
			}
			in := input(good, tc.at)
			_, rerr := v.Verify(in)
			switch {
			case tc.code == "" && rerr != nil:
				t.Fatalf("second call rejected: %v", rerr)
			case tc.code != "" && (rerr == nil || rerr.Code != tc.code):
				t.Fatalf("second call: %v, want %s", rerr, tc.code)
			}
			if got := v.verifies.Load(); got != tc.verifies {
				t.Fatalf("argon2id ran %d times, want %d", got, tc.verifies)
			}
		})
	}
}

func TestFailuresNotCached(t *testing.T) {
	v := newCounted(t, testUsers(t), Options{})
	for range 2 {
		if _, rerr := v.Verify(input(enc("alice:wrong"), t0)); rerr == nil {
			t.Fatal("accepted")
		}
	}
	if v.verifies.Load() != 2 || v.cache.Len() != 0 {
		t.Fatalf("verifies %d cache %d, want 2 and 0", v.verifies.Load(), v.cache.Len())
	}
}

func TestCacheBounded(t *testing.T) {
	// One user, many passwords would each need a hash; the bound is on
	// entries, so fill it directly through lifecycle.
	v := New(Options{CacheSize: 32})
	u := testUsers(t)["alice"]
	for i := range 1000 {
		in := input("", t0)
		if _, rerr := v.lifecycle(in, u, v.sum([]byte("alice:"+string(rune(i)))), true); rerr != nil {
			t.Fatal(rerr)
		}
	}
	if n := v.cache.Len(); n > 32 || n < 16 {
		t.Fatalf("cache holds %d entries, want at most 32", n)
	}
}

// TestCoalescing: a burst of the same new credentials runs argon2id once;
// the others wait for it.
func TestCoalescing(t *testing.T) {
	const n = 8
	users := testUsers(t)
	v := newCounted(t, users, Options{CacheSize: -1}) // no cache: only coalescing can share
	release := make(chan struct{})
	inner := v.verify
	v.verify = func(h string, p []byte) (bool, error) { <-release; return inner(h, p) }
	good := enc("alice:s3cret pass")
	key := v.sum([]byte("alice:s3cret pass"))
	var wg sync.WaitGroup
	errs := make(chan *reason.Error, n)
	for range n {
		wg.Go(func() {
			_, rerr := v.Verify(input(good, t0))
			errs <- rerr
		})
	}
	for v.group.Joined(key) < n-1 {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	close(errs)
	for rerr := range errs {
		if rerr != nil {
			t.Fatal(rerr)
		}
	}
	if got := v.verifies.Load(); got != 1 {
		t.Fatalf("argon2id ran %d times for a burst of %d, want 1", got, n)
	}
}

// TestQueueFull: with every argon2id slot taken past QueueWait, the check
// is 503, not a wrong-password answer.
func TestQueueFull(t *testing.T) {
	v := newCounted(t, testUsers(t), Options{MaxConcurrentHashes: 1, QueueWait: time.Millisecond})
	v.slots <- struct{}{} // the one slot is busy
	_, rerr := v.Verify(input(enc("alice:s3cret pass"), t0))
	<-v.slots
	if rerr == nil || rerr.Code != reason.AuthBackendUnavailable || rerr.Entry().Status != 503 || rerr.RetryAfter == 0 {
		t.Fatalf("got %v, want auth.backend_unavailable with Retry-After", rerr)
	}
	if v.verifies.Load() != 0 || v.dummies.Load() != 0 {
		t.Fatal("argon2id ran without a slot")
	}
}

func TestExpiryWarning(t *testing.T) {
	v := newCounted(t, testUsers(t), Options{})
	in := input(enc("soon:other"), t0)
	in.ExpiryWarning = 2 * time.Hour
	id, rerr := v.Verify(in)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if id.ExpiresHeader != "2026-03-01T13:00:00Z" || id.ExpiresAt == nil {
		t.Fatalf("identity %+v", id)
	}
}

func TestRecognizes(t *testing.T) {
	v := New(Options{})
	for _, tc := range []struct {
		desc string
		kind authheader.Kind
		want bool
	}{
		{"basic", authheader.Basic, true},
		{"bearer", authheader.Bearer, false},
		{"api key", authheader.APIKeyScheme, false},
		{"none", authheader.None, false},
	} {
		if got := v.Recognizes(authheader.Credential{Kind: tc.kind}); got != tc.want {
			t.Errorf("%s: %v", tc.desc, got)
		}
	}
	if v.Method() != domain.AuthBasic {
		t.Fatal(v.Method())
	}
}
