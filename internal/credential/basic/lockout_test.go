package basic

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/clock"
	"gatehouse/internal/credential"
	"gatehouse/internal/reason"
	"gatehouse/internal/trace"
)

const (
	ipA = "198.51.100.7"
	ipB = "203.0.113.9"
)

// attemptStep is one request of a lockout scenario.
type attemptStep struct {
	user, pass string
	ip         string        // "" : the pipeline could not tell
	advance    time.Duration // clock moves this much before the request
	code       string        // "" : accepted
	retry      int           // Retry-After, for basic.locked_out
	private    string        // substring of the operator-only trace
}

// wrong returns n wrong-password attempts for user from ip.
func wrong(n int, user, ip string) []attemptStep {
	out := make([]attemptStep, n)
	for i := range out {
		out[i] = attemptStep{user: user, pass: fmt.Sprintf("guess %d", i), ip: ip, code: CodeInvalidCredentials}
	}
	return out
}

func steps(parts ...any) []attemptStep {
	var out []attemptStep
	for _, p := range parts {
		switch p := p.(type) {
		case attemptStep:
			out = append(out, p)
		case []attemptStep:
			out = append(out, p...)
		}
	}
	return out
}

func lockedInput(user, pass, ip string, now time.Time) *credential.Input {
	in := input(enc(user+":"+pass), now)
	if ip != "" {
		in.ClientIP = netip.MustParseAddr(ip)
	}
	return in
}

func TestLockout(t *testing.T) {
	right := func(ip string) attemptStep { return attemptStep{user: "alice", pass: "s3cret pass", ip: ip} }
	locked := func(s attemptStep, retry int, private string) attemptStep {
		s.code, s.retry, s.private = CodeLockedOut, retry, private
		return s
	}
	at := func(s attemptStep, d time.Duration) attemptStep { s.advance = d; return s }
	cases := []struct {
		desc     string
		o        Lockout
		noCache  bool // every success runs argon2id
		steps    []attemptStep
		verifies int32 // argon2id against a user's hash
		dummies  int32 // argon2id against the dummy hash
	}{
		{desc: "threshold reached: the 6th wrong password is refused without argon2id",
			steps: steps(wrong(5, "alice", ipA),
				locked(wrong(1, "alice", ipA)[0], 900, `username "alice" is locked out until 2026-03-01T12:15:00Z after 5 failed attempts within 15m0s`)),
			verifies: 5},
		{desc: "the right password is refused while locked, without argon2id",
			steps:    steps(wrong(5, "alice", ipA), locked(right(ipB), 900, `username "alice" is locked out`)),
			verifies: 5},
		{desc: "an unknown username is locked the same way (dummy hash until then)",
			steps:   steps(wrong(5, "nobody", ipA), locked(wrong(1, "nobody", ipB)[0], 900, `username "nobody" is locked out`)),
			dummies: 5},
		{desc: "the lockout ends after its duration and the right password works again",
			steps: steps(wrong(5, "alice", ipA),
				locked(at(right(ipA), 14*time.Minute+59*time.Second), 1, "until 2026-03-01T12:15:00Z"),
				at(right(ipA), time.Second)),
			verifies: 6},
		{desc: "Retry-After counts down to the end of the lockout",
			steps:    steps(wrong(5, "alice", ipA), locked(at(right(ipA), 10*time.Minute+500*time.Millisecond), 300, "")),
			verifies: 5},
		{desc: "failures older than the window do not add up",
			steps: steps(wrong(4, "alice", ipA), at(wrong(1, "alice", ipA)[0], 15*time.Minute), wrong(3, "alice", ipA),
				right(ipA)),
			verifies: 9},
		{desc: "a new window counts from its first failure",
			steps: steps(wrong(4, "alice", ipA), at(wrong(1, "alice", ipA)[0], 15*time.Minute), wrong(4, "alice", ipA),
				locked(right(ipA), 900, "until 2026-03-01T12:30:00Z")),
			verifies: 9},
		{desc: "a success resets the username's counter",
			noCache:  true,
			steps:    steps(wrong(4, "alice", ipA), right(ipA), wrong(4, "alice", ipA), right(ipA)),
			verifies: 10},
		{desc: "a cached success resets it too",
			steps:    steps(right(ipA), wrong(4, "alice", ipA), right(ipA), wrong(4, "alice", ipA), right(ipA)),
			verifies: 9},
		{desc: "per-address lockout across usernames, the right password included",
			o: Lockout{MaxIPFailures: 3},
			steps: steps(wrong(1, "nobody", ipA), wrong(1, "carol", ipA), wrong(1, "alice", ipA),
				locked(right(ipA), 900, "client address "+ipA+" is locked out until 2026-03-01T12:15:00Z after 3 failed attempts"),
				right(ipB)),
			verifies: 2, dummies: 2},
		{desc: "a locked address is refused even for credentials in the cache",
			o: Lockout{MaxIPFailures: 3},
			steps: steps(right(ipA), wrong(1, "bob", ipA), wrong(1, "carol", ipA), wrong(1, "dave", ipA),
				locked(right(ipA), 900, "client address "+ipA)),
			verifies: 1, dummies: 3},
		{desc: "a success refunds the address's charge",
			o: Lockout{MaxIPFailures: 3},
			steps: steps(wrong(2, "nobody", ipA), right(ipA), right(ipA), wrong(1, "bob", ipA), right(ipB),
				locked(right(ipA), 900, "client address "+ipA)),
			verifies: 1, dummies: 3},
		{desc: "IPv6 is counted per /64",
			o: Lockout{MaxIPFailures: 3},
			steps: steps(wrong(1, "u1", "2001:db8::1"), wrong(1, "u2", "2001:db8::2"), wrong(1, "u3", "2001:db8::ffff:3"),
				locked(right("2001:db8::abcd"), 900, "client address 2001:db8::/64"), right("2001:db8:0:1::1")),
			verifies: 1, dummies: 3},
		{desc: "an address the pipeline could not tell is not counted",
			o:        Lockout{MaxUserFailures: -1, MaxIPFailures: 2},
			steps:    steps(wrong(3, "alice", ""), right("")),
			verifies: 4},
		{desc: "per-username counter off: only the address counts",
			o:        Lockout{MaxUserFailures: -1, MaxIPFailures: 10},
			steps:    steps(wrong(3, "alice", ipA), wrong(3, "alice", ipB), right(ipA)),
			verifies: 7},
		{desc: "custom threshold, window and duration",
			o: Lockout{MaxUserFailures: 2, Window: time.Minute, Duration: time.Hour},
			steps: steps(wrong(1, "alice", ipA), at(wrong(1, "alice", ipA)[0], time.Minute), wrong(1, "alice", ipA),
				locked(right(ipA), 3600, "until 2026-03-01T13:01:00Z after 2 failed attempts within 1m0s")),
			verifies: 3},
		{desc: "lockout off: every attempt is checked",
			o:        Lockout{Off: true},
			steps:    steps(wrong(10, "alice", ipA), right(ipA)),
			verifies: 11},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			o := Options{Lockout: tc.o}
			if tc.noCache {
				o.CacheSize = -1
			}
			v := newCounted(t, testUsers(t), o)
			clk := clock.NewFake(t0)
			for i, s := range tc.steps {
				clk.Advance(s.advance)
				in := lockedInput(s.user, s.pass, s.ip, clk.Now())
				_, rerr := v.Verify(in)
				code := ""
				if rerr != nil {
					code = rerr.Code
				}
				if code != s.code {
					t.Fatalf("step %d (%s from %q): got %v, want %q", i+1, s.user, s.ip, rerr, s.code)
				}
				if s.code != CodeLockedOut {
					continue
				}
				if rerr.RetryAfter != s.retry || rerr.Entry().Status != 429 {
					t.Fatalf("step %d: status %d Retry-After %d, want 429 and %d", i+1, rerr.Entry().Status, rerr.RetryAfter, s.retry)
				}
				if s.private != "" && (!hasStep(in.Trace, s.private, true) || !strings.Contains(rerr.Debug, s.private)) {
					t.Fatalf("step %d: operator trace lacks %q: %+v (debug %q)", i+1, s.private, in.Trace.Steps(), rerr.Debug)
				}
				if strings.Contains(rerr.Detail, s.user) || strings.Contains(rerr.Detail, s.ip) && s.ip != "" {
					t.Fatalf("step %d: caller detail names the counter: %q", i+1, rerr.Detail)
				}
			}
			if got := v.verifies.Load(); got != tc.verifies {
				t.Errorf("argon2id against a user's hash ran %d times, want %d", got, tc.verifies)
			}
			if got := v.dummies.Load(); got != tc.dummies {
				t.Errorf("dummy argon2id ran %d times, want %d", got, tc.dummies)
			}
		})
	}
}

// TestLockoutSameAnswer: a locked known username, a locked unknown one
// and a locked address give the caller the same rejection, so a lockout
// tells nothing about which usernames exist.
func TestLockoutSameAnswer(t *testing.T) {
	v := newCounted(t, testUsers(t), Options{Lockout: Lockout{MaxIPFailures: 5}})
	for _, s := range steps(wrong(5, "alice", ipA), wrong(5, "nobody", ipB)) {
		if _, rerr := v.Verify(lockedInput(s.user, s.pass, s.ip, t0)); rerr == nil || rerr.Code != CodeInvalidCredentials {
			t.Fatalf("%s: %v", s.user, rerr)
		}
	}
	type answer struct {
		view  reason.View
		retry int
	}
	var answers []answer
	for _, s := range []attemptStep{
		{user: "alice", pass: "s3cret pass", ip: "192.0.2.1"},  // known username locked
		{user: "nobody", pass: "s3cret pass", ip: "192.0.2.1"}, // unknown username locked
		{user: "erin", pass: "s3cret pass", ip: ipA},           // address locked
	} {
		_, rerr := v.Verify(lockedInput(s.user, s.pass, s.ip, t0.Add(time.Minute)))
		if rerr == nil || rerr.Code != CodeLockedOut {
			t.Fatalf("%s from %s: %v, want %s", s.user, s.ip, rerr, CodeLockedOut)
		}
		answers = append(answers, answer{rerr.View(false), rerr.RetryAfter})
	}
	for i, a := range answers[1:] {
		if a != answers[0] {
			t.Fatalf("answer %d differs from the first:\n%+v\n%+v", i+2, a, answers[0])
		}
	}
}

// TestLockoutConcurrentGuesses: a burst of distinct wrong passwords sent
// at once cannot overshoot the threshold while the first ones are still
// hashing; attempts are charged before argon2id runs.
func TestLockoutConcurrentGuesses(t *testing.T) {
	const burst = 20
	v := newCounted(t, testUsers(t), Options{MaxConcurrentHashes: burst})
	release := make(chan struct{})
	inner := v.verify
	v.verify = func(h string, p []byte) (bool, error) { <-release; return inner(h, p) }
	var wg sync.WaitGroup
	errs := make(chan *reason.Error, burst)
	for i := range burst {
		wg.Go(func() {
			_, rerr := v.Verify(lockedInput("alice", fmt.Sprintf("guess %d", i), ipA, t0))
			errs <- rerr
		})
	}
	// The attempts beyond the threshold are answered without waiting for
	// the ones that hold argon2id.
	var early []*reason.Error
	for range burst - DefaultMaxUserFailures {
		early = append(early, <-errs)
	}
	close(release)
	wg.Wait()
	close(errs)
	for _, rerr := range early {
		if rerr == nil || rerr.Code != CodeLockedOut || rerr.RetryAfter != 1 || !strings.Contains(rerr.Debug, "still being checked") {
			t.Fatalf("early answer %v, want %s with Retry-After 1", rerr, CodeLockedOut)
		}
	}
	for rerr := range errs {
		if rerr == nil || rerr.Code != CodeInvalidCredentials {
			t.Fatalf("hashed answer %v, want %s", rerr, CodeInvalidCredentials)
		}
	}
	if got := v.verifies.Load(); got != DefaultMaxUserFailures {
		t.Fatalf("argon2id ran %d times for %d concurrent guesses, want %d", got, burst, DefaultMaxUserFailures)
	}
	if _, rerr := v.Verify(lockedInput("alice", "s3cret pass", ipB, t0)); rerr == nil || rerr.Code != CodeLockedOut || rerr.RetryAfter != 900 {
		t.Fatalf("after the burst: %v, want a 15-minute lockout", rerr)
	}
}

// TestLockoutBusyRefunds: an attempt that never got an argon2id slot is
// not a failure.
func TestLockoutBusyRefunds(t *testing.T) {
	v := newCounted(t, testUsers(t), Options{MaxConcurrentHashes: 1, QueueWait: time.Millisecond, Lockout: Lockout{MaxUserFailures: 2}})
	v.slots <- struct{}{} // the one slot is busy
	for range 5 {
		if _, rerr := v.Verify(lockedInput("alice", "wrong", ipA, t0)); rerr == nil || rerr.Code != reason.AuthBackendUnavailable {
			t.Fatalf("got %v, want auth.backend_unavailable", rerr)
		}
	}
	<-v.slots
	if n := v.lock.users.Len() + v.lock.ips.Len(); n != 0 {
		t.Fatalf("%d counters left after unchecked attempts, want 0", n)
	}
	if _, rerr := v.Verify(lockedInput("alice", "s3cret pass", ipA, t0)); rerr != nil {
		t.Fatalf("right password after unchecked attempts: %v", rerr)
	}
}

// TestLockoutBounded: 100 000 random usernames from random addresses
// leave at most MaxTracked entries per table, and the heap does not grow
// with them; a real target is still counted afterwards.
func TestLockoutBounded(t *testing.T) {
	const maxTracked = 1024
	users := testUsers(t)
	v := newCounted(t, users, Options{Lockout: Lockout{MaxTracked: maxTracked}})
	var dummies atomic.Int64
	v.dummy = func([]byte) { dummies.Add(1) } // argon2id is not what is measured here
	rng := rand.New(rand.NewPCG(1, 2))
	var tr trace.Trace
	attempt := func(i int) {
		var ip [4]byte
		binary.BigEndian.PutUint32(ip[:], rng.Uint32())
		name := fmt.Sprintf("u%016x%d", rng.Uint64(), i)
		in := input(enc(name+":pw"), t0)
		in.ClientIP, in.Trace = netip.AddrFrom4(ip), &tr
		tr.Reset()
		if _, rerr := v.Verify(in); rerr == nil || rerr.Code != CodeInvalidCredentials {
			t.Fatalf("random user %d: %v", i, rerr)
		}
	}
	for i := range 2 * maxTracked { // warm up: tables full
		attempt(i)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	const flood = 100000
	for i := range flood {
		attempt(i)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if dummies.Load() != flood+2*maxTracked {
		t.Fatalf("%d checks for %d attempts", dummies.Load(), flood+2*maxTracked)
	}
	for name, c := range map[string]*counters{"usernames": v.lock.users, "addresses": v.lock.ips} {
		if n := c.Len(); n > maxTracked || n < maxTracked/2 {
			t.Errorf("%s table holds %d entries, want at most %d", name, n, maxTracked)
		}
		if int64(c.Len()) != c.live.Load() {
			t.Errorf("%s: live count %d, entries %d", name, c.live.Load(), c.Len())
		}
	}
	// Unbounded, 100 000 entries per table would take well over 10 MiB.
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 2<<20 {
		t.Errorf("heap grew by %d bytes over %d random usernames", grew, flood)
	}
	runtime.KeepAlive(v)
	// The flood did not break counting for a real target.
	for i := range 5 {
		if _, rerr := v.Verify(lockedInput("nobody-real", fmt.Sprint(i), ipA, t0)); rerr == nil || rerr.Code != CodeInvalidCredentials {
			t.Fatalf("attempt %d: %v", i+1, rerr)
		}
	}
	if _, rerr := v.Verify(lockedInput("nobody-real", "x", ipB, t0)); rerr == nil || rerr.Code != CodeLockedOut {
		t.Fatalf("after 5 failures: %v, want %s", rerr, CodeLockedOut)
	}
}

// TestCacheHitAllocs: the lockout adds no allocation to a cache hit,
// whether its tables are empty or hold counters.
func TestCacheHitAllocs(t *testing.T) {
	cases := []struct {
		desc     string
		o        Lockout
		failures int // wrong passwords for another user first
	}{
		{desc: "lockout on, no failures anywhere", failures: 0},
		{desc: "lockout on, counters held", failures: 3},
		{desc: "lockout off", o: Lockout{Off: true}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			v := newCounted(t, testUsers(t), Options{Lockout: tc.o})
			for i := range tc.failures {
				if _, rerr := v.Verify(lockedInput("nobody", fmt.Sprint(i), ipA, t0)); rerr == nil {
					t.Fatal("accepted a wrong password")
				}
			}
			in := lockedInput("alice", "s3cret pass", ipA, t0)
			if _, rerr := v.Verify(in); rerr != nil {
				t.Fatal(rerr)
			}
			var tr trace.Trace
			in.Trace = &tr
			allocs := testing.AllocsPerRun(200, func() {
				tr.Reset()
				if _, rerr := v.Verify(in); rerr != nil {
					t.Fatal(rerr)
				}
			})
			if allocs != 0 {
				t.Fatalf("%v allocations per cache hit, want 0", allocs)
			}
			if v.verifies.Load() != 1 {
				t.Fatalf("argon2id ran %d times, want 1 (the rest were cache hits)", v.verifies.Load())
			}
		})
	}
}

// TestLockoutSurvivesFlood: a flood of other usernames, far more than the
// table holds, does not evict a locked username (which would end its
// lockout and hand the attacker fresh guesses), while the table stays
// bounded.
func TestLockoutSurvivesFlood(t *testing.T) {
	const maxTracked = 256
	users := testUsers(t)
	v := newCounted(t, users, Options{Lockout: Lockout{MaxTracked: maxTracked, MaxIPFailures: -1}})
	v.dummy = func([]byte) {}
	for i := range 5 {
		if _, rerr := v.Verify(lockedInput("alice", fmt.Sprint("bad", i), ipA, t0)); rerr == nil || rerr.Code != CodeInvalidCredentials {
			t.Fatalf("attempt %d: %v", i+1, rerr)
		}
	}
	if _, rerr := v.Verify(lockedInput("alice", "x", ipA, t0)); rerr == nil || rerr.Code != CodeLockedOut {
		t.Fatalf("after 5 failures: %v, want %s", rerr, CodeLockedOut)
	}
	var tr trace.Trace
	for i := range 20 * maxTracked {
		in := lockedInput(fmt.Sprintf("flood%d", i), "bad", ipB, t0.Add(time.Second))
		in.Trace = &tr
		tr.Reset()
		if _, rerr := v.Verify(in); rerr == nil || rerr.Code != CodeInvalidCredentials {
			t.Fatalf("flood %d: %v", i, rerr)
		}
	}
	if n := v.lock.users.Len(); n > maxTracked {
		t.Fatalf("username table holds %d entries, bound %d", n, maxTracked)
	}
	if _, rerr := v.Verify(lockedInput("alice", "s3cret pass", ipA, t0.Add(2*time.Second))); rerr == nil || rerr.Code != CodeLockedOut {
		t.Fatalf("the right password after the flood: %v, want still %s", rerr, CodeLockedOut)
	}
}
