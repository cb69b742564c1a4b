package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

func issuer(id, name string) domain.Issuer {
	return domain.Issuer{ID: id, Name: name, Issuer: "https://" + name + ".example.com/", JWKSURL: "https://" + name + ".example.com/jwks",
		Audiences: []string{"api"}, Algorithms: []string{"RS256"}, Leeway: domain.Duration(time.Minute), CreatedAt: t0, UpdatedAt: t0}
}

func credential(id, consumerID, typ string) domain.Credential {
	c := domain.Credential{ID: id, ConsumerID: consumerID, Type: typ, Scopes: []string{"orders:read"}, CreatedAt: t0}
	switch typ {
	case domain.CredentialHMAC:
		c.KeyID, c.Algorithm, c.Secret = "key-"+id, "hmac-sha256", "gs1:0000abcd:sealed-"+id
	case domain.CredentialBasic:
		c.Username, c.PasswordHash = "user-"+id, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA"
	case domain.CredentialJWTBinding:
		c.IssuerID, c.Claim, c.Value = "iss_1", "sub", "subject-"+id
	case domain.CredentialMTLS:
		c.FingerprintSHA256 = strings.Repeat("ab", 31) + fmt.Sprintf("%02x", id[len(id)-1])
	}
	return c
}

func getCredential(t *testing.T, s store.Store, id string) (domain.Credential, error) {
	var got domain.Credential
	err := s.View(t.Context(), func(tx store.Tx) error {
		var err error
		got, err = tx.GetCredential(t.Context(), id)
		return err
	})
	return got, err
}

func testIssuers(t *testing.T, s store.Store) {
	cases := []struct {
		desc string
		in   domain.Issuer
	}{
		{"minimal: nil lists stay nil, no secrets", domain.Issuer{ID: "iss_a", Name: "a", Issuer: "a", CreatedAt: t0, UpdatedAt: t0}},
		{"every field, sealed secrets kept as given", domain.Issuer{ID: "iss_b", Name: "okta", Issuer: "https://okta.example.com/oauth2/default",
			JWKSURL: "https://okta.example.com/keys", DiscoveryURL: "https://okta.example.com/.well-known/openid-configuration",
			IntrospectionURL: "https://okta.example.com/introspect", IntrospectionClientID: "gatehouse",
			IntrospectionClientSecret: "gs1:0000abcd:c2VhbGVk", Audiences: []string{"api://orders", "api://carts"},
			Algorithms: []string{"RS256", "ES256", "HS256"}, Leeway: domain.Duration(90 * time.Second), RequiredClaims: []string{"sub", "client_id"},
			Typ: "at+jwt", HS256Secret: "gs1:0000abcd:aHMyNTY", Declared: true, CreatedAt: at(-time.Hour), UpdatedAt: at(time.Hour)}},
		{"empty lists stay empty", domain.Issuer{ID: "iss_c", Name: "c", Issuer: "c", Audiences: []string{}, Algorithms: []string{},
			RequiredClaims: []string{}, CreatedAt: t0, UpdatedAt: t0}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutIssuer(ctx, tc.in) })
			view(t, s, func(ctx context.Context, tx store.Tx) error {
				for _, ref := range []string{tc.in.ID, tc.in.Name} {
					got, err := tx.GetIssuer(ctx, ref)
					if err != nil {
						return err
					}
					same(t, "GetIssuer("+ref+")", got, tc.in)
				}
				return nil
			})
		})
	}
	t.Run("a taken name conflicts and is named", func(t *testing.T) {
		dup := issuer("iss_x", "okta")
		err := s.Update(t.Context(), func(tx store.Tx) error { return tx.PutIssuer(t.Context(), dup) })
		wantErr(t, "duplicate name", err, store.ErrConflict, "name", `"okta"`)
	})
	t.Run("a taken iss value conflicts and is named", func(t *testing.T) {
		dup := issuer("iss_x", "other")
		dup.Issuer = "https://okta.example.com/oauth2/default"
		err := s.Update(t.Context(), func(tx store.Tx) error { return tx.PutIssuer(t.Context(), dup) })
		wantErr(t, "duplicate iss", err, store.ErrConflict, `"https://okta.example.com/oauth2/default"`, "iss")
	})
	t.Run("list and filter by name", func(t *testing.T) {
		all, next, err := s.ListIssuers(t.Context(), store.ListFilter{})
		if err != nil || next != "" {
			t.Fatalf("ListIssuers: %q %v", next, err)
		}
		same(t, "ids", ids(all, func(i domain.Issuer) string { return i.ID }), []string{"iss_a", "iss_b", "iss_c"})
		one, _, err := s.ListIssuers(t.Context(), store.ListFilter{Name: "okta"})
		if err != nil {
			t.Fatal(err)
		}
		same(t, "by name", ids(one, func(i domain.Issuer) string { return i.ID }), []string{"iss_b"})
	})
	t.Run("an issuer with a live binding cannot be deleted; revoked bindings do not hold it", func(t *testing.T) {
		update(t, s, func(ctx context.Context, tx store.Tx) error {
			return errors.Join(tx.PutTenant(ctx, tenant("ten_1", "acme")), tx.PutConsumer(ctx, consumer("con_1", "ten_1", "shop")))
		})
		b := credential("crd_1", "con_1", domain.CredentialJWTBinding)
		b.IssuerID = "iss_b"
		update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutCredential(ctx, b) })
		err := s.Update(t.Context(), func(tx store.Tx) error { return tx.DeleteIssuer(t.Context(), "iss_b") })
		wantErr(t, "DeleteIssuer with a live binding", err, store.ErrConflict, "iss_b", "1 live jwt binding")
		b.RevokedAt = ptr(at(time.Hour))
		update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutCredential(ctx, b) })
		update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteIssuer(ctx, "iss_b") })
		got, err := getCredential(t, s, "crd_1")
		if err != nil || got.IssuerID != "iss_b" {
			t.Fatalf("the revoked binding after its issuer's deletion: %+v, %v", got, err)
		}
		err = s.Update(t.Context(), func(tx store.Tx) error { return tx.DeleteIssuer(t.Context(), "iss_b") })
		wantErr(t, "DeleteIssuer twice", err, store.ErrNotFound, "iss_b")
	})
}

func seedCredentials(t *testing.T, s store.Store) {
	t.Helper()
	update(t, s, func(ctx context.Context, tx store.Tx) error {
		return errors.Join(
			tx.PutTenant(ctx, tenant("ten_1", "acme")), tx.PutTenant(ctx, tenant("ten_2", "globex")),
			tx.PutConsumer(ctx, consumer("con_1", "ten_1", "shop")), tx.PutConsumer(ctx, consumer("con_2", "ten_1", "web")),
			tx.PutConsumer(ctx, consumer("con_3", "ten_2", "app")),
			tx.PutIssuer(ctx, issuer("iss_1", "okta")), tx.PutIssuer(ctx, issuer("iss_2", "auth0")),
		)
	})
}

func testCredentials(t *testing.T, s store.Store) {
	seedCredentials(t, s)
	exp, rev, used := at(90*24*time.Hour), at(time.Hour), at(30*time.Minute)
	cases := []struct {
		desc string
		in   domain.Credential
	}{
		{"jwt binding on a named claim", domain.Credential{ID: "crd_j", ConsumerID: "con_1", Type: domain.CredentialJWTBinding,
			IssuerID: "iss_1", Claim: "client_id", Value: "shop-backend", Scopes: []string{}, CreatedAt: t0}},
		{"hmac with a sealed secret", credential("crd_h", "con_1", domain.CredentialHMAC)},
		{"hmac with a public key", domain.Credential{ID: "crd_p", ConsumerID: "con_1", Type: domain.CredentialHMAC, KeyID: "ed-key",
			Algorithm: "ed25519", PublicKey: "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----", Scopes: []string{"a"}, CreatedAt: t0}},
		{"mtls by fingerprint and subject", domain.Credential{ID: "crd_m", ConsumerID: "con_2", Type: domain.CredentialMTLS,
			FingerprintSHA256: strings.Repeat("0f", 32), Subject: "CN=web,O=Acme", Scopes: nil, CreatedAt: t0}},
		{"basic with every common field set", domain.Credential{ID: "crd_b", ConsumerID: "con_3", Type: domain.CredentialBasic,
			Username: "app", PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g", Scopes: []string{"x", "y"},
			IPAllow: []string{"10.0.0.0/8", "2001:db8::/32"}, ExpiresAt: &exp, RevokedAt: &rev, RevokedReason: "leaked",
			CreatedAt: at(-time.Hour), LastUsedAt: &used}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutCredential(ctx, tc.in) })
			got, err := getCredential(t, s, tc.in.ID)
			if err != nil {
				t.Fatal(err)
			}
			same(t, "GetCredential", got, tc.in)
			if got.Secret != tc.in.Secret || got.PasswordHash != tc.in.PasswordHash {
				t.Error("a secret field did not round-trip")
			}
		})
	}

	conflicts := []struct {
		desc  string
		dup   domain.Credential
		holds string
		words []string
	}{
		{"hmac key_id", func() domain.Credential {
			c := credential("crd_x", "con_2", domain.CredentialHMAC)
			c.KeyID = "key-crd_h"
			return c
		}(), "crd_h", []string{"key_id", `"key-crd_h"`}},
		{"jwt binding issuer+claim+value", domain.Credential{ID: "crd_x", ConsumerID: "con_3", Type: domain.CredentialJWTBinding,
			IssuerID: "iss_1", Claim: "client_id", Value: "shop-backend", CreatedAt: t0}, "crd_j", []string{"shop-backend"}},
		{"mtls fingerprint", domain.Credential{ID: "crd_x", ConsumerID: "con_1", Type: domain.CredentialMTLS,
			FingerprintSHA256: strings.Repeat("0f", 32), CreatedAt: t0}, "crd_m", []string{"fingerprint_sha256"}},
	}
	for _, c := range conflicts {
		t.Run("a live "+c.desc+" conflicts, is named, and ConflictingCredential finds the holder", func(t *testing.T) {
			err := s.Update(t.Context(), func(tx store.Tx) error { return tx.PutCredential(t.Context(), c.dup) })
			wantErr(t, c.desc, err, store.ErrConflict, c.words...)
			view(t, s, func(ctx context.Context, tx store.Tx) error {
				got, err := tx.ConflictingCredential(ctx, c.dup)
				if err != nil || got.ID != c.holds {
					t.Errorf("ConflictingCredential = %q, %v; want %s", got.ID, err, c.holds)
				}
				return nil
			})
		})
	}
	t.Run("the same values on another claim, issuer or type do not conflict", func(t *testing.T) {
		update(t, s, func(ctx context.Context, tx store.Tx) error {
			return errors.Join(
				tx.PutCredential(ctx, domain.Credential{ID: "crd_o1", ConsumerID: "con_3", Type: domain.CredentialJWTBinding,
					IssuerID: "iss_1", Claim: "azp", Value: "shop-backend", CreatedAt: t0}),
				tx.PutCredential(ctx, domain.Credential{ID: "crd_o2", ConsumerID: "con_3", Type: domain.CredentialJWTBinding,
					IssuerID: "iss_2", Claim: "client_id", Value: "shop-backend", CreatedAt: t0}),
				tx.PutCredential(ctx, domain.Credential{ID: "crd_o3", ConsumerID: "con_3", Type: domain.CredentialMTLS,
					Subject: "CN=web,O=Acme", CreatedAt: t0}), // subject-only binding: crd_m is bound by fingerprint
			)
		})
	})
	t.Run("a subject-only mtls binding conflicts with another subject-only one", func(t *testing.T) {
		dup := domain.Credential{ID: "crd_x", ConsumerID: "con_1", Type: domain.CredentialMTLS, Subject: "CN=web,O=Acme", CreatedAt: t0}
		err := s.Update(t.Context(), func(tx store.Tx) error { return tx.PutCredential(t.Context(), dup) })
		wantErr(t, "subject", err, store.ErrConflict, "subject", "CN=web,O=Acme")
	})
	t.Run("a revoked credential frees its username; ConflictingCredential ignores revoked ones and itself", func(t *testing.T) {
		// crd_b (username "app") is revoked.
		live := domain.Credential{ID: "crd_b2", ConsumerID: "con_1", Type: domain.CredentialBasic, Username: "app", PasswordHash: "h", CreatedAt: t0}
		update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutCredential(ctx, live) })
		view(t, s, func(ctx context.Context, tx store.Tx) error {
			_, err := tx.ConflictingCredential(ctx, live)
			wantErr(t, "ConflictingCredential of itself", err, store.ErrNotFound)
			other := live
			other.ID = "crd_new"
			got, err := tx.ConflictingCredential(ctx, other)
			if err != nil || got.ID != "crd_b2" {
				t.Errorf("ConflictingCredential = %q, %v; want the live crd_b2", got.ID, err)
			}
			return nil
		})
	})
	t.Run("missing consumer or issuer is named", func(t *testing.T) {
		c := credential("crd_y", "con_missing", domain.CredentialHMAC)
		err := s.Update(t.Context(), func(tx store.Tx) error { return tx.PutCredential(t.Context(), c) })
		wantErr(t, "missing consumer", err, store.ErrNotFound, "con_missing")
		j := credential("crd_y", "con_1", domain.CredentialJWTBinding)
		j.IssuerID = "iss_missing"
		err = s.Update(t.Context(), func(tx store.Tx) error { return tx.PutCredential(t.Context(), j) })
		wantErr(t, "missing issuer", err, store.ErrNotFound, "iss_missing")
	})
	t.Run("unknown id is not found", func(t *testing.T) {
		_, err := getCredential(t, s, "crd_nope")
		wantErr(t, "GetCredential", err, store.ErrNotFound, "crd_nope")
	})
}

func testCredentialLists(t *testing.T, s store.Store) {
	seedCredentials(t, s)
	update(t, s, func(ctx context.Context, tx store.Tx) error {
		j2 := credential("crd_5", "con_3", domain.CredentialJWTBinding)
		j2.IssuerID = "iss_2"
		return errors.Join(
			tx.PutCredential(ctx, credential("crd_1", "con_1", domain.CredentialHMAC)),
			tx.PutCredential(ctx, credential("crd_2", "con_1", domain.CredentialJWTBinding)),
			tx.PutCredential(ctx, credential("crd_3", "con_2", domain.CredentialBasic)),
			tx.PutCredential(ctx, credential("crd_4", "con_3", domain.CredentialMTLS)),
			tx.PutCredential(ctx, j2),
		)
	})
	cases := []struct {
		desc string
		f    store.ListFilter
		want []string
	}{
		{"all", store.ListFilter{}, []string{"crd_1", "crd_2", "crd_3", "crd_4", "crd_5"}},
		{"by consumer", store.ListFilter{ConsumerID: "con_1"}, []string{"crd_1", "crd_2"}},
		{"by type", store.ListFilter{Type: domain.CredentialJWTBinding}, []string{"crd_2", "crd_5"}},
		{"by issuer", store.ListFilter{IssuerID: "iss_2"}, []string{"crd_5"}},
		{"by the consumer's tenant", store.ListFilter{TenantID: "ten_1"}, []string{"crd_1", "crd_2", "crd_3"}},
		{"combined", store.ListFilter{TenantID: "ten_2", Type: domain.CredentialMTLS}, []string{"crd_4"}},
		{"nothing", store.ListFilter{TenantID: "ten_2", Type: domain.CredentialBasic}, []string{}},
		{"after the cursor, limited", store.ListFilter{Page: store.Page{After: "crd_2", Limit: 2}}, []string{"crd_3", "crd_4"}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			got, _, err := s.ListCredentials(t.Context(), tc.f)
			if err != nil {
				t.Fatal(err)
			}
			same(t, "ids", ids(got, func(c domain.Credential) string { return c.ID }), tc.want)
		})
	}
	t.Run("TouchCredentials moves last_used_at forward only and leaves the version", func(t *testing.T) {
		v := version(t, s)
		ctx := t.Context()
		if err := s.TouchCredentials(ctx, map[string]time.Time{"crd_1": at(time.Hour), "crd_gone": at(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if err := s.TouchCredentials(ctx, map[string]time.Time{"crd_1": at(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		got, err := getCredential(t, s, "crd_1")
		if err != nil || got.LastUsedAt == nil || !got.LastUsedAt.Equal(at(time.Hour)) {
			t.Errorf("last_used_at %v, %v; want %v", got.LastUsedAt, err, at(time.Hour))
		}
		if version(t, s) != v {
			t.Error("TouchCredentials moved the version")
		}
	})
	t.Run("Load has every issuer and credential, revoked ones included, secrets still sealed", func(t *testing.T) {
		r := credential("crd_1", "con_1", domain.CredentialHMAC)
		r.RevokedAt, r.LastUsedAt = ptr(at(2*time.Hour)), ptr(at(time.Hour))
		update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutCredential(ctx, r) })
		d, err := s.Load(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		same(t, "issuers", ids(d.Issuers, func(i domain.Issuer) string { return i.ID }), []string{"iss_1", "iss_2"})
		same(t, "credentials", ids(d.Credentials, func(c domain.Credential) string { return c.ID }), []string{"crd_1", "crd_2", "crd_3", "crd_4", "crd_5"})
		same(t, "the revoked hmac credential", d.Credentials[0], r)
	})
	t.Run("View refuses every credential write", func(t *testing.T) {
		ctx := t.Context()
		for name, do := range map[string]func(store.Tx) error{
			"PutIssuer":    func(tx store.Tx) error { return tx.PutIssuer(ctx, issuer("iss_9", "nine")) },
			"DeleteIssuer": func(tx store.Tx) error { return tx.DeleteIssuer(ctx, "iss_2") },
			"PutCredential": func(tx store.Tx) error {
				return tx.PutCredential(ctx, credential("crd_9", "con_1", domain.CredentialHMAC))
			},
		} {
			var inner error
			if err := s.View(ctx, func(tx store.Tx) error { inner = do(tx); return nil }); err != nil {
				t.Fatal(err)
			}
			wantErr(t, name, inner, store.ErrReadOnly)
		}
	})
}
