package secrets

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, KeySize) }

func mustBox(t *testing.T, k []byte, old ...[]byte) *Box {
	t.Helper()
	b, err := New(k, old...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSealOpen(t *testing.T) {
	b := mustBox(t, key(1))
	cases := []struct {
		desc string
		in   []byte
	}{
		{"32 random-looking bytes", []byte("0123456789abcdef0123456789abcdef")},
		{"empty", []byte{}},
		{"binary with zeros", []byte{0, 1, 2, 0, 255}},
		{"long", bytes.Repeat([]byte("x"), 10000)},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			s1, err := b.Seal(c.in)
			if err != nil {
				t.Fatal(err)
			}
			s2, _ := b.Seal(c.in)
			if s1 == s2 {
				t.Error("two seals of the same value are equal: the nonce is not random")
			}
			if !strings.HasPrefix(s1, "gs1:"+b.KeyID()+":") {
				t.Errorf("sealed %q lacks the version and key id prefix", s1)
			}
			if len(c.in) > 4 && strings.Contains(s1, string(c.in)) {
				t.Error("the plaintext shows in the sealed value")
			}
			got, err := b.Open(s1)
			if err != nil || !bytes.Equal(got, c.in) {
				t.Fatalf("Open = %q, %v", got, err)
			}
		})
	}
}

func TestOpenFailures(t *testing.T) {
	b := mustBox(t, key(1))
	sealed, err := b.Seal([]byte("hmac-secret"))
	if err != nil {
		t.Fatal(err)
	}
	other := mustBox(t, key(2))
	prefix := sealed[:strings.LastIndex(sealed, ":")+1]
	// Flip a bit of the decoded bytes, not of the text: flipping a base64
	// character can turn it into one outside the alphabet (a different
	// failure), depending on the random nonce.
	raw, err := base64.RawURLEncoding.DecodeString(sealed[len(prefix):])
	if err != nil {
		t.Fatal(err)
	}
	raw[len(raw)-3] ^= 1
	flip := prefix + base64.RawURLEncoding.EncodeToString(raw)
	cases := []struct {
		desc  string
		box   *Box
		in    string
		want  error
		words []string
	}{
		{"wrong master key names both key ids", other, sealed, ErrWrongKey, []string{b.KeyID(), other.KeyID(), EnvMasterKey}},
		{"a flipped bit", b, flip, ErrCorrupt, []string{b.KeyID()}},
		{"truncated", b, sealed[:len(sealed)-5], ErrCorrupt, nil},
		{"too short to hold a nonce", b, prefix + "AAAA", ErrCorrupt, nil},
		{"not base64url", b, prefix + "!!!!", ErrCorrupt, nil},
		{"the key id changed", b, strings.Replace(sealed, b.KeyID(), other.KeyID(), 1), ErrWrongKey, nil},
		{"a plaintext", b, "hmac-secret", ErrMalformed, []string{"gs1:<key id>:<data>"}},
		{"another version", b, strings.Replace(sealed, "gs1:", "gs9:", 1), ErrMalformed, nil},
		{"empty", b, "", ErrMalformed, nil},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			_, err := c.box.Open(c.in)
			if !errors.Is(err, c.want) {
				t.Fatalf("Open = %v, want %v", err, c.want)
			}
			for _, w := range c.words {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}

func TestRotation(t *testing.T) {
	old := mustBox(t, key(1))
	sealedOld, _ := old.Seal([]byte("before"))
	rotated := mustBox(t, key(2), key(1))
	got, err := rotated.Open(sealedOld)
	if err != nil || string(got) != "before" {
		t.Fatalf("a value sealed with the previous key: %q, %v", got, err)
	}
	sealedNew, _ := rotated.Seal([]byte("after"))
	if !strings.Contains(sealedNew, ":"+mustBox(t, key(2)).KeyID()+":") {
		t.Errorf("new values are not sealed with the current key: %s", sealedNew)
	}
	if _, err := old.Open(sealedNew); !errors.Is(err, ErrWrongKey) {
		t.Errorf("the old box opened a value of the new key: %v", err)
	}
	if _, err := New(key(1)[:16]); err == nil || !strings.Contains(err.Error(), "16 bytes") {
		t.Errorf("a 16-byte key: %v", err)
	}
}

func env(vals map[string]string) func(string) string { return func(k string) string { return vals[k] } }

func TestLoadFromEnvironment(t *testing.T) {
	k := key(7)
	want := mustBox(t, k).KeyID()
	cases := []struct {
		desc string
		val  string
		err  string
	}{
		{"standard base64", base64.StdEncoding.EncodeToString(k), ""},
		{"URL base64 without padding, surrounding space", " " + base64.RawURLEncoding.EncodeToString(k) + "\n", ""},
		{"too short", base64.StdEncoding.EncodeToString(k[:20]), "decodes to 20 bytes"},
		{"not base64", "correct horse battery staple!", "is not base64"},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			dir := t.TempDir()
			b, err := Load(env(map[string]string{EnvMasterKey: c.val}), filepath.Join(dir, "g.db"))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), EnvMasterKey) {
					t.Fatalf("Load = %v, want an error naming %s and saying %q", err, EnvMasterKey, c.err)
				}
				if strings.Contains(err.Error(), strings.TrimSpace(c.val)) {
					t.Fatal("the error echoes the variable's value")
				}
				return
			}
			if err != nil || b.KeyID() != want {
				t.Fatalf("Load = %v, %v", b, err)
			}
			if _, err := os.Stat(filepath.Join(dir, KeyFileName)); !errors.Is(err, os.ErrNotExist) {
				t.Error("a key file was written although the variable is set")
			}
		})
	}
}

func TestLoadKeyFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gatehouse-data")
	db := filepath.Join(dir, "gatehouse.db")
	b1, err := Load(env(nil), db)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, KeyFileName)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("no key file generated: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %04o, want 0600", fi.Mode().Perm())
	}
	sealed, _ := b1.Seal([]byte("s"))
	b2, err := Load(env(nil), db)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b2.Open(sealed); err != nil || string(got) != "s" {
		t.Fatalf("the second start does not reuse the key file: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".master.key-*")); len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}

	t.Run("a key file others can read is refused", func(t *testing.T) {
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		defer os.Chmod(path, 0o600)
		_, err := Load(env(nil), db)
		if err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("Load = %v", err)
		}
	})
	t.Run("a damaged key file is an error, not a new key", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), KeyFileName)
		if err := os.WriteFile(bad, []byte("not a key\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(env(nil), filepath.Join(filepath.Dir(bad), "g.db"))
		if err == nil || !strings.Contains(err.Error(), "is not base64") {
			t.Fatalf("Load = %v", err)
		}
	})
	t.Run("the variable wins over the file", func(t *testing.T) {
		b, err := Load(env(map[string]string{EnvMasterKey: base64.StdEncoding.EncodeToString(key(9))}), db)
		if err != nil || b.KeyID() == b1.KeyID() {
			t.Fatalf("Load = %v, %v", b, err)
		}
	})
	t.Run("concurrent first starts agree on one key", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "d", "g.db")
		ids := make([]string, 8)
		var wg sync.WaitGroup
		for i := range ids {
			wg.Go(func() {
				b, err := Load(env(nil), db)
				if err != nil {
					t.Error(err)
					return
				}
				ids[i] = b.KeyID()
			})
		}
		wg.Wait()
		for _, id := range ids[1:] {
			if id != ids[0] {
				t.Fatalf("key ids %v differ", ids)
			}
		}
	})
}

func TestLoadWithoutLocalFile(t *testing.T) {
	if _, err := Load(env(nil), ""); err == nil || !strings.Contains(err.Error(), EnvMasterKey+" is not set") {
		t.Fatalf("Load without a database file: %v", err)
	}
	a, err := Load(env(nil), ":memory:")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Load(env(nil), ":memory:")
	if a.KeyID() == b.KeyID() {
		t.Error("in-memory stores share a key: it must be random per process")
	}
}
