package secrets

import (
	"errors"
	"strings"
	"testing"
)

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword([]byte("correct horse battery staple"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(h, "correct horse") {
		t.Fatalf("hash %q", h)
	}
	h2, _ := HashPassword([]byte("correct horse battery staple"))
	if h == h2 {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	cases := []struct {
		desc string
		pw   string
		want bool
	}{
		{"the password", "correct horse battery staple", true},
		{"one character off", "correct horse battery stapl3", false},
		{"empty", "", false},
		{"a prefix", "correct horse", false},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			ok, err := VerifyPassword(h, []byte(c.pw))
			if err != nil || ok != c.want {
				t.Fatalf("VerifyPassword = %v, %v; want %v", ok, err, c.want)
			}
		})
	}
}

// TestPasswordKnownVector checks the PHC reading against a hash made by
// the reference implementation (phc-winner-argon2's test vectors:
// "password", salt "somesalt", t=2, m=2^16, p=1), so the format is the
// common one.
func TestPasswordKnownVector(t *testing.T) {
	const h = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
	ok, err := VerifyPassword(h, []byte("password"))
	if err != nil || !ok {
		t.Fatalf("the reference hash does not verify: %v %v", ok, err)
	}
	if ok, _ := VerifyPassword(h, []byte("Password")); ok {
		t.Fatal("a wrong password verified")
	}
}

func TestPasswordBadHashes(t *testing.T) {
	cases := []struct {
		desc, hash string
	}{
		{"empty", ""},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", "$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"},
		{"old version", "$argon2id$v=16$m=65536,t=2,p=4$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"},
		{"huge memory", "$argon2id$v=19$m=4194304,t=2,p=4$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"},
		{"huge time", "$argon2id$v=19$m=65536,t=1000,p=4$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"},
		{"zero lanes", "$argon2id$v=19$m=65536,t=2,p=0$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"},
		{"missing parameter", "$argon2id$v=19$m=65536,t=2$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"},
		{"short hash", "$argon2id$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$CTFh"},
		{"bad salt", "$argon2id$v=19$m=65536,t=2,p=4$!!!$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			ok, err := VerifyPassword(c.hash, []byte("password"))
			if ok || !errors.Is(err, ErrBadHash) {
				t.Fatalf("VerifyPassword = %v, %v; want ErrBadHash", ok, err)
			}
		})
	}
}

func BenchmarkVerifyPassword(b *testing.B) {
	h, err := HashPassword([]byte("correct horse battery staple"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_, _ = VerifyPassword(h, []byte("wrong"))
	}
}
