package apikey

import (
	"hash/crc32"
	"slices"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/authheader"
	"gatehouse/internal/credential"
	"gatehouse/internal/domain"
	"gatehouse/internal/keys"
	"gatehouse/internal/reason"
	"gatehouse/internal/snapshot"
	"gatehouse/internal/store"
	"gatehouse/internal/trace"
)

var now = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) *time.Time { t := now.Add(d); return &t }

// fixture is a snapshot holding a key of every lifecycle state, and the
// full keys (which only the test knows: the snapshot holds hashes).
type fixture struct {
	snap *snapshot.Snapshot
	full map[string]string // name → full key
	ids  map[string]string // name → id
}

func newFixture(t testing.TB) fixture {
	t.Helper()
	f := fixture{full: map[string]string{}, ids: map[string]string{}}
	d := &store.Data{
		Version: 1,
		Tenants: []domain.Tenant{{ID: "t1", Slug: "acme", Status: domain.StatusActive}},
		Consumers: []domain.Consumer{{ID: "c1", TenantID: "t1", Name: "shop", Status: domain.StatusActive,
			Scopes: []string{"orders:read", "orders:write"}}},
	}
	add := func(name, env string, k domain.APIKey) {
		g, err := keys.Generate(env)
		if err != nil {
			t.Fatal(err)
		}
		k.ID, k.ConsumerID, k.Environment, k.Hash = g.ID, "c1", env, keys.Hash(g.Full)
		f.full[name], f.ids[name] = g.Full, g.ID
		d.Keys = append(d.Keys, k)
	}
	add("live", keys.EnvLive, domain.APIKey{Scopes: []string{"orders:read"}, IPAllow: []string{"10.0.0.0/8"}})
	add("consumer scopes", keys.EnvLive, domain.APIKey{})
	add("test env", keys.EnvTest, domain.APIKey{})
	add("revoked", keys.EnvLive, domain.APIKey{RevokedAt: at(-time.Hour), RevokedReason: "leaked in a log",
		Successor: "x", GraceUntil: at(time.Hour), ExpiresAt: at(-time.Minute)})
	add("rotating", keys.EnvLive, domain.APIKey{Successor: "newKey000001", GraceUntil: at(time.Hour)})
	add("rotated", keys.EnvLive, domain.APIKey{Successor: "newKey000001", GraceUntil: at(-time.Second)})
	add("expired", keys.EnvLive, domain.APIKey{ExpiresAt: at(-90 * time.Second)})
	add("expiring", keys.EnvLive, domain.APIKey{ExpiresAt: at(time.Hour)})
	add("expiring later", keys.EnvLive, domain.APIKey{ExpiresAt: at(30 * 24 * time.Hour)})
	const legacy = "legacy-system-key-0123456789"
	f.full["imported"], f.ids["imported"] = legacy, "importedKey1"
	d.Keys = append(d.Keys, domain.APIKey{ID: "importedKey1", ConsumerID: "c1", Environment: keys.EnvLive, Imported: true,
		Hash: keys.Hash(legacy)})
	s, err := snapshot.Build(d, snapshot.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	f.snap = s
	return f
}

func (f fixture) verify(tok, env string) (credential.Identity, *reason.Error, *trace.Trace) {
	tr := &trace.Trace{}
	in := &credential.Input{Snap: f.snap, Presented: authheader.Credential{Kind: authheader.Bearer, Token: tok},
		Env: env, Now: now, ExpiryWarning: 24 * time.Hour, Trace: tr}
	id, err := Verifier{}.Verify(in)
	return id, err, tr
}

// forged is a well-formed key with full's public id and another secret:
// its checksum (CRC-32 of everything before it, six base62 digits, most
// significant first) is recomputed, so it passes the offline checks and
// reaches the lookup.
func forged(t *testing.T, full string) string {
	t.Helper()
	p, perr := keys.Parse(full, "")
	if perr != nil {
		t.Fatal(perr.Detail)
	}
	g, err := keys.Generate(p.Env)
	if err != nil {
		t.Fatal(err)
	}
	body := strings.Replace(g.Full[:keys.Length-keys.CheckLength], g.ID, p.ID, 1)
	crc := crc32.ChecksumIEEE([]byte(body))
	var check [keys.CheckLength]byte
	for i := keys.CheckLength - 1; i >= 0; i-- {
		check[i] = keys.Alphabet[crc%62]
		crc /= 62
	}
	out := body + string(check[:])
	if _, perr := keys.Parse(out, ""); perr != nil || out == full {
		t.Fatalf("forged key %q: %v", out, perr)
	}
	return out
}

func TestVerify(t *testing.T) {
	f := newFixture(t)
	unknown, _ := keys.Generate(keys.EnvLive)
	cases := []struct {
		desc, tok, env string
		wantCode       string // "" for an identity
		wantPossession bool
		wantDetail     string // substring of the detail
		wantDebug      string // substring of the operator-only detail
		check          func(t *testing.T, id credential.Identity)
	}{
		{desc: "live key: identity with its own scopes and allow-list", tok: f.full["live"], env: keys.EnvLive,
			check: func(t *testing.T, id credential.Identity) {
				if id.CredentialID != f.ids["live"] || id.Consumer == nil || id.Consumer.ID != "c1" || id.Environment != keys.EnvLive ||
					id.Type != domain.AuthAPIKey {
					t.Errorf("identity %+v", id)
				}
				if !slices.Equal(id.Scopes, []string{"orders:read"}) || id.ScopeHeader != "orders:read" {
					t.Errorf("scopes %q %q", id.Scopes, id.ScopeHeader)
				}
				if len(id.IPAllow) != 1 || id.IPAllow[0].String() != "10.0.0.0/8" || id.ExpiresAt != nil || id.RotatedHeader != "" {
					t.Errorf("allow-list %v, expiry %v, rotated %q", id.IPAllow, id.ExpiresAt, id.RotatedHeader)
				}
			}},
		{desc: "a key naming no scopes takes the consumer's", tok: f.full["consumer scopes"], env: keys.EnvLive,
			check: func(t *testing.T, id credential.Identity) {
				if id.ScopeHeader != "orders:read orders:write" {
					t.Errorf("scope header %q", id.ScopeHeader)
				}
			}},
		{desc: "a gateway serving both environments takes a test key", tok: f.full["test env"], env: domain.EnvBoth},
		{desc: "a test key on a live gateway", tok: f.full["test env"], env: keys.EnvLive, wantCode: reason.KeyWrongEnvironment},
		{desc: "unknown id", tok: unknown.Full, env: keys.EnvLive, wantCode: reason.KeyUnknown, wantDetail: "is not known"},
		{desc: "known id, wrong secret: unknown to the caller, named to the operator", tok: forged(t, f.full["live"]), env: keys.EnvLive,
			wantCode: reason.KeyUnknown, wantDetail: "is not known", wantDebug: "id exists, but the secret does not match"},
		{desc: "old secret of a rotated key", tok: forged(t, f.full["rotating"]), env: keys.EnvLive,
			wantCode: reason.KeyUnknown, wantDebug: "rotated to newKey000001"},
		{desc: "revoked beats rotated and expired", tok: f.full["revoked"], env: keys.EnvLive, wantCode: reason.KeyRevoked,
			wantPossession: true, wantDetail: "was revoked at 2030-06-01T11:00:00Z: leaked in a log."},
		{desc: "rotated, within grace: allowed with the warning header", tok: f.full["rotating"], env: keys.EnvLive,
			check: func(t *testing.T, id credential.Identity) {
				if id.RotatedHeader != `successor="newKey000001"; grace-until="2030-06-01T13:00:00Z"` {
					t.Errorf("rotated header %q", id.RotatedHeader)
				}
			}},
		{desc: "rotated, grace over", tok: f.full["rotated"], env: keys.EnvLive, wantCode: reason.KeyRotated, wantPossession: true,
			wantDetail: "was replaced by key newKey000001"},
		{desc: "expired", tok: f.full["expired"], env: keys.EnvLive, wantCode: reason.KeyExpired, wantPossession: true,
			wantDetail: "expired at 2030-06-01T11:58:30Z (1m30s ago)."},
		{desc: "expiring within the warning: header, expiry pointing into the snapshot", tok: f.full["expiring"], env: keys.EnvLive,
			check: func(t *testing.T, id credential.Identity) {
				if id.ExpiresHeader != "2030-06-01T13:00:00Z" || id.ExpiresAt == nil || !id.ExpiresAt.Equal(*at(time.Hour)) {
					t.Errorf("expires header %q, at %v", id.ExpiresHeader, id.ExpiresAt)
				}
			}},
		{desc: "expiring later: no header", tok: f.full["expiring later"], env: keys.EnvLive,
			check: func(t *testing.T, id credential.Identity) {
				if id.ExpiresHeader != "" || id.ExpiresAt == nil {
					t.Errorf("expires header %q, at %v", id.ExpiresHeader, id.ExpiresAt)
				}
			}},
		{desc: "imported key, found by hash", tok: f.full["imported"], env: keys.EnvLive,
			check: func(t *testing.T, id credential.Identity) {
				if id.CredentialID != "importedKey1" {
					t.Errorf("credential %q", id.CredentialID)
				}
			}},
		{desc: "opaque string no imported key has", tok: "legacy-system-key-9999999999", env: keys.EnvLive,
			wantCode: reason.KeyUnknown, wantDetail: "neither a Gatehouse key"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			id, err, tr := f.verify(tc.tok, tc.env)
			if tc.wantCode == "" {
				if err != nil {
					t.Fatalf("rejected: %s %s (%s)", err.Code, err.Detail, err.Debug)
				}
				if tc.check != nil {
					tc.check(t, id)
				}
				return
			}
			if err == nil || err.Code != tc.wantCode {
				t.Fatalf("got %+v, want %s", err, tc.wantCode)
			}
			if err.Possession != tc.wantPossession || !strings.Contains(err.Detail, tc.wantDetail) || !strings.Contains(err.Debug, tc.wantDebug) {
				t.Errorf("possession %v, detail %q, debug %q", err.Possession, err.Detail, err.Debug)
			}
			if tc.wantDebug != "" {
				private := false
				for _, s := range tr.Steps() {
					private = private || s.Private && strings.Contains(s.Detail, tc.wantDebug)
				}
				if !private || strings.Contains(err.Detail, tc.wantDebug) {
					t.Error("the operator-only detail is not a private trace step, or reaches the caller")
				}
			}
		})
	}
}

// TestVerifyAllowedDoesNotAllocate: verifying a live key allocates
// nothing (the snapshot lookup fills a view on the stack).
func TestVerifyAllowedDoesNotAllocate(t *testing.T) {
	f := newFixture(t)
	tr := &trace.Trace{}
	in := &credential.Input{Snap: f.snap, Presented: authheader.Credential{Kind: authheader.Bearer, Token: f.full["live"]},
		Env: keys.EnvLive, Now: now, Trace: tr}
	n := testing.AllocsPerRun(1000, func() {
		tr.Reset()
		if _, err := (Verifier{}).Verify(in); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Errorf("%v allocations per verification", n)
	}
}

func BenchmarkVerify(b *testing.B) {
	f := newFixture(b)
	tr := &trace.Trace{}
	in := &credential.Input{Snap: f.snap, Presented: authheader.Credential{Kind: authheader.Bearer, Token: f.full["live"]},
		Env: keys.EnvLive, Now: now, Trace: tr}
	b.ReportAllocs()
	for b.Loop() {
		tr.Reset()
		if _, err := (Verifier{}).Verify(in); err != nil {
			b.Fatal(err)
		}
	}
}
