package httpsig

import (
	"crypto/ed25519"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/clock"
	"gatehouse/internal/credential"
	"gatehouse/internal/credential/httpsig/sigkey"
	"gatehouse/internal/snapshot"
	"gatehouse/internal/testenv"
	"gatehouse/internal/trace"
)

// signedPool pre-signs n variants of r (distinct nonces) so the loop
// measures verification only.
type signedPool struct{ si, sg [][]string }

func makePool(b testing.TB, r *http.Request, n int, inner func(i int) string, sign func(r *http.Request, inner string)) signedPool {
	var p signedPool
	for i := 0; i < n; i++ {
		sign(r, inner(i))
		p.si = append(p.si, r.Header["Signature-Input"])
		p.sg = append(p.sg, r.Header["Signature"])
	}
	return p
}

// benchVerify runs VerifyRequest over the pool; the nonce store's clock
// jumps past every TTL whenever the pool wraps, so each verification is
// a first sighting (the full path, replay check included).
func benchVerify(b *testing.B, v *Verifier, fc *clock.Fake, r *http.Request, p signedPool, rules *Rules) {
	var tr trace.Trace
	in := credential.Input{Now: testNow, Trace: &tr}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if i == len(p.si) {
			i = 0
			fc.Advance(time.Hour)
		}
		r.Header["Signature-Input"], r.Header["Signature"] = p.si[i], p.sg[i]
		i++
		tr.Reset()
		if _, rerr := v.VerifyRequest(&in, r, rules); rerr != nil {
			b.Fatal(rerr)
		}
	}
}

// BenchmarkVerifyHMACSHA256: a GET signed with hmac-sha256 over
// @method @authority @path @query, created and nonce, verified end to
// end: parsing, key lookup, coverage, clock, base, MAC, replay cache.
func BenchmarkVerifyHMACSHA256(b *testing.B) {
	v, fc, r, p := signedGETs(b, 4096)
	benchVerify(b, v, fc, r, p, defaultRules)
}

// signedGETs is a verifier with a fake clock and n variants of one GET
// signed with hmac-sha256 over @method @authority @path @query, created
// and a distinct nonce each.
func signedGETs(tb testing.TB, n int) (*Verifier, *clock.Fake, *http.Request, signedPool) {
	fc := clock.NewFake(testNow)
	v := testVerifier(tb, NewMemoryNonces(0, fc))
	r := newServerRequest(tb, "GET", "/v1/orders?id=7", "")
	p := makePool(tb, r, n, func(i int) string {
		return `("@method" "@authority" "@path" "@query");created=` + created(0) + `;keyid="k1";nonce="n` + strconv.Itoa(i) + `"`
	}, func(r *http.Request, inner string) { hmacSign(tb, r, testSecret, "sig1", inner, nil) })
	return v, fc, r, p
}

// A signed request is verified without allocating: the fields parse into
// the pooled state's scratch, the MAC's sum goes into its pooled buffer,
// and a component's identifier becomes a string only in an error (twelve
// objects and 2.3 KB per request before: at 20 000 signed requests a
// second, a collection every second or so).
func TestVerifyHMACAllocatesNothing(t *testing.T) {
	v, _, r, p := signedGETs(t, 512)
	var tr trace.Trace
	in := credential.Input{Now: testNow, Trace: &tr}
	i := 0
	verify := func() {
		r.Header["Signature-Input"], r.Header["Signature"] = p.si[i], p.sg[i]
		i++
		tr.Reset()
		if _, rerr := v.VerifyRequest(&in, r, defaultRules); rerr != nil {
			t.Fatal(rerr)
		}
	}
	for range 10 {
		verify() // pools warm
	}
	n := testing.AllocsPerRun(400, verify)
	if testenv.Race {
		t.Logf("%.2f allocations per verification under the race detector, whose sync.Pool drops states: not judged", n)
		return
	}
	if n > 0.1 {
		t.Errorf("%.2f allocations per verification, want none", n)
	}
}

// BenchmarkVerifyHMACSHA256Digest: the same with a 1 KiB JSON body and
// Content-Digest (sha-256) covered and checked.
func BenchmarkVerifyHMACSHA256Digest(b *testing.B) {
	fc := clock.NewFake(testNow)
	v := testVerifier(b, NewMemoryNonces(0, fc))
	body := `{"data":"` + strings.Repeat("x", 1012) + `"}`
	r := newServerRequest(b, "POST", "/v1/orders", body, "Content-Type: application/json", "Content-Digest: "+sha256Digest(body))
	p := makePool(b, r, 4096, func(i int) string {
		return `("@method" "@authority" "@path" "content-type" "content-digest");created=` + created(0) + `;keyid="k1";nonce="n` + strconv.Itoa(i) + `"`
	}, func(r *http.Request, inner string) { hmacSign(b, r, testSecret, "sig1", inner, nil) })
	var tr trace.Trace
	in := credential.Input{Now: testNow, Trace: &tr}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if i == len(p.si) {
			i = 0
			fc.Advance(time.Hour)
		}
		r.Header["Signature-Input"], r.Header["Signature"] = p.si[i], p.sg[i]
		i++
		r.Body = http.NoBody
		r.Body = nopBody(body)
		r.ContentLength = int64(len(body))
		tr.Reset()
		if _, rerr := v.VerifyRequest(&in, r, defaultRules); rerr != nil {
			b.Fatal(rerr)
		}
	}
}

// BenchmarkVerifyEd25519: the same GET signed with ed25519.
func BenchmarkVerifyEd25519(b *testing.B) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	k, err := sigkey.New(sigkey.Ed25519, pub)
	if err != nil {
		b.Fatal(err)
	}
	fc := clock.NewFake(testNow)
	ring := Keyring{"e1": {ID: "e1", Verifier: k, Consumer: testConsumer}}
	v := &Verifier{Keys: func(*snapshot.Snapshot) Keys { return ring }, Nonces: NewMemoryNonces(0, fc)}
	r := newServerRequest(b, "GET", "/v1/orders?id=7", "")
	p := makePool(b, r, 1024, func(i int) string {
		return `("@method" "@authority" "@path" "@query");created=` + created(0) + `;keyid="e1";nonce="n` + strconv.Itoa(i) + `"`
	}, func(r *http.Request, inner string) {
		s, _ := ParseFields("sig1="+inner, "sig1=:AAAA:")
		in, _, _ := s.Select("")
		m := RequestMessage(r, "")
		base, _ := in.AppendBase(nil, &m)
		r.Header.Set("Signature-Input", "sig1="+inner)
		r.Header.Set("Signature", "sig1=:"+base64.StdEncoding.EncodeToString(ed25519.Sign(priv, base))+":")
	})
	benchVerify(b, v, fc, r, p, defaultRules)
}

// BenchmarkNonceStoreParallel: Seen from all cores at once, distinct
// nonces (the sharding keeps lock contention low).
func BenchmarkNonceStoreParallel(b *testing.B) {
	s := NewMemoryNonces(0, nil)
	var ctr atomicCounter
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 0, 24)
		for pb.Next() {
			buf = strconv.AppendUint(buf[:0], ctr.next(), 36)
			if _, err := s.Seen(b.Context(), "k1", string(buf), time.Millisecond); err != nil {
				b.Fatal(err)
			}
		}
	})
}
