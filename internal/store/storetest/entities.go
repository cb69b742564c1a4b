package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

func testTenants(t *testing.T, s store.Store) {
	cases := []struct {
		desc string
		in   domain.Tenant
	}{
		{"active tenant, suspended_at nil", tenant("ten_a", "acme")},
		{"suspended tenant, suspended_at set", domain.Tenant{ID: "ten_b", Slug: "beta", Name: "Beta", Status: domain.StatusSuspended,
			SuspendedAt: ptr(at(time.Hour)), CreatedAt: at(-time.Hour), UpdatedAt: at(time.Hour)}},
		{"zero times and empty name are kept as given", domain.Tenant{ID: "ten_c", Slug: "gamma", Status: domain.StatusActive}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutTenant(ctx, tc.in) })
			view(t, s, func(ctx context.Context, tx store.Tx) error {
				byID, err := tx.GetTenant(ctx, tc.in.ID)
				if err != nil {
					return err
				}
				same(t, "by id", byID, tc.in)
				bySlug, err := tx.GetTenant(ctx, tc.in.Slug)
				if err != nil {
					return err
				}
				same(t, "by slug", bySlug, tc.in)
				return nil
			})
		})
	}

	t.Run("update replaces every field, a set time can go back to nil", func(t *testing.T) {
		changed := domain.Tenant{ID: "ten_b", Slug: "beta2", Name: "Beta Two", Status: domain.StatusActive,
			CreatedAt: at(-time.Hour), UpdatedAt: at(2 * time.Hour)}
		update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutTenant(ctx, changed) })
		view(t, s, func(ctx context.Context, tx store.Tx) error {
			got, err := tx.GetTenant(ctx, "ten_b")
			same(t, "after update", got, changed)
			if _, err := tx.GetTenant(ctx, "beta"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("old slug still resolves: %v", err)
			}
			return err
		})
	})

	t.Run("slug taken by another tenant conflicts, names the slug, writes nothing", func(t *testing.T) {
		err := s.Update(t.Context(), func(tx store.Tx) error {
			return tx.PutTenant(t.Context(), tenant("ten_x", "acme"))
		})
		wantErr(t, "duplicate slug", err, store.ErrConflict, "slug", `"acme"`)
		view(t, s, func(ctx context.Context, tx store.Tx) error {
			if _, err := tx.GetTenant(ctx, "ten_x"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("conflicting tenant was stored: %v", err)
			}
			return nil
		})
	})

	t.Run("re-putting a tenant with its own slug is not a conflict", func(t *testing.T) {
		update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutTenant(ctx, tenant("ten_a", "acme")) })
	})

	t.Run("an id wins over an equal slug of another tenant", func(t *testing.T) {
		update(t, s, func(ctx context.Context, tx store.Tx) error {
			return tx.PutTenant(ctx, tenant("ten_z", "ten_a"))
		})
		view(t, s, func(ctx context.Context, tx store.Tx) error {
			got, err := tx.GetTenant(ctx, "ten_a")
			if got.ID != "ten_a" {
				t.Errorf("GetTenant(ten_a) = %q, want the tenant whose id is ten_a", got.ID)
			}
			return err
		})
	})
}

func testConsumers(t *testing.T, s store.Store) {
	update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutTenant(ctx, tenant("ten_1", "acme")) })
	cases := []struct {
		desc string
		in   domain.Consumer
	}{
		{"nil scopes, ip_allow and labels stay nil", domain.Consumer{ID: "con_a", TenantID: "ten_1", Name: "a",
			Status: domain.StatusActive, CreatedAt: t0, UpdatedAt: t0}},
		{"empty scopes, ip_allow and labels stay empty", domain.Consumer{ID: "con_b", TenantID: "ten_1", Name: "b",
			Status: domain.StatusActive, Scopes: []string{}, IPAllow: []string{}, Labels: map[string]string{},
			CreatedAt: t0, UpdatedAt: t0}},
		{"every field set", domain.Consumer{ID: "con_c", TenantID: "ten_1", Name: "shop-mobile", Status: domain.StatusSuspended,
			Scopes: []string{"orders:read", "orders:write"}, IPAllow: []string{"10.0.0.0/8", "2001:db8::/32"},
			Labels:      map[string]string{"team": "mobile", "tier": "gold", "quote": `a "b" \c`},
			SuspendedAt: ptr(at(time.Minute)), DeletedAt: ptr(at(2 * time.Minute)), CreatedAt: at(-time.Hour), UpdatedAt: at(time.Hour)}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutConsumer(ctx, tc.in) })
			view(t, s, func(ctx context.Context, tx store.Tx) error {
				got, err := tx.GetConsumer(ctx, tc.in.ID)
				same(t, "GetConsumer", got, tc.in)
				return err
			})
		})
	}

	t.Run("unknown tenant is not found and writes nothing", func(t *testing.T) {
		err := s.Update(t.Context(), func(tx store.Tx) error {
			return tx.PutConsumer(t.Context(), consumer("con_x", "ten_missing", "x"))
		})
		wantErr(t, "PutConsumer", err, store.ErrNotFound, "ten_missing")
	})

	t.Run("update clears optional fields", func(t *testing.T) {
		c := consumer("con_c", "ten_1", "shop-mobile")
		update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutConsumer(ctx, c) })
		view(t, s, func(ctx context.Context, tx store.Tx) error {
			got, err := tx.GetConsumer(ctx, "con_c")
			same(t, "after update", got, c)
			return err
		})
	})
}

func testConsumerNames(t *testing.T, s store.Store) {
	update(t, s, func(ctx context.Context, tx store.Tx) error {
		return errors.Join(tx.PutTenant(ctx, tenant("ten_1", "acme")), tx.PutTenant(ctx, tenant("ten_2", "beta")),
			tx.PutConsumer(ctx, consumer("con_1", "ten_1", "shop")))
	})
	byName := func(t *testing.T, tenantID, name string) (domain.Consumer, error) {
		var got domain.Consumer
		err := s.View(t.Context(), func(tx store.Tx) error {
			var err error
			got, err = tx.GetConsumerByName(t.Context(), tenantID, name)
			return err
		})
		return got, err
	}

	t.Run("same name in the same tenant conflicts and names it", func(t *testing.T) {
		err := s.Update(t.Context(), func(tx store.Tx) error {
			return tx.PutConsumer(t.Context(), consumer("con_2", "ten_1", "shop"))
		})
		wantErr(t, "duplicate name", err, store.ErrConflict, `"shop"`)
	})
	t.Run("same name in another tenant is fine", func(t *testing.T) {
		update(t, s, func(ctx context.Context, tx store.Tx) error {
			return tx.PutConsumer(ctx, consumer("con_3", "ten_2", "shop"))
		})
		got, err := byName(t, "ten_2", "shop")
		if err != nil || got.ID != "con_3" {
			t.Errorf("GetConsumerByName(ten_2, shop) = %q, %v; want con_3", got.ID, err)
		}
	})
	t.Run("a deleted consumer releases its name; the live one is found first", func(t *testing.T) {
		deleted := consumer("con_1", "ten_1", "shop")
		deleted.Status, deleted.DeletedAt = domain.StatusDeleted, ptr(at(time.Minute))
		update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutConsumer(ctx, deleted) })
		fresh := consumer("con_4", "ten_1", "shop")
		fresh.CreatedAt = at(time.Hour)
		update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutConsumer(ctx, fresh) })
		got, err := byName(t, "ten_1", "shop")
		if err != nil || got.ID != "con_4" {
			t.Errorf("GetConsumerByName = %q, %v; want the live con_4", got.ID, err)
		}
	})
	t.Run("with only deleted consumers left, the newest deleted one is found", func(t *testing.T) {
		gone := consumer("con_4", "ten_1", "shop")
		gone.CreatedAt, gone.Status, gone.DeletedAt = at(time.Hour), domain.StatusDeleted, ptr(at(2*time.Hour))
		update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutConsumer(ctx, gone) })
		got, err := byName(t, "ten_1", "shop")
		if err != nil || got.ID != "con_4" || got.Status != domain.StatusDeleted {
			t.Errorf("GetConsumerByName = %q (%s), %v; want deleted con_4", got.ID, got.Status, err)
		}
	})
	t.Run("unknown name is not found and named", func(t *testing.T) {
		_, err := byName(t, "ten_1", "nobody")
		wantErr(t, "GetConsumerByName", err, store.ErrNotFound, `"nobody"`)
	})
}

func testKeys(t *testing.T, s store.Store) {
	seed(t, s)
	cases := []struct {
		desc string
		in   domain.APIKey
	}{
		{"minimal key: nil times, nil ip_allow, empty scopes", domain.APIKey{ID: "key_a", ConsumerID: "con_1",
			Environment: domain.EnvTest, Hash: "h-a", Last4: "wxyz", Scopes: []string{}, CreatedAt: t0}},
		{"nil scopes stay nil", domain.APIKey{ID: "key_b", ConsumerID: "con_1", Environment: domain.EnvLive,
			Hash: "h-b", Last4: "0000", CreatedAt: t0}},
		{"every field set", domain.APIKey{ID: "key_c", ConsumerID: "con_1", Name: "ci", Environment: domain.EnvLive,
			Hash: "h-c", Last4: "9Zz9", Imported: true, Scopes: []string{"a", "b"}, IPAllow: []string{"192.0.2.1/32"},
			ExpiresAt: ptr(at(90 * 24 * time.Hour)), RevokedAt: ptr(at(time.Hour)), RevokedReason: "compromised",
			Successor: "key_d", GraceUntil: ptr(at(25 * time.Hour)), Predecessor: "key_0",
			CreatedAt: at(-time.Hour), LastUsedAt: ptr(at(30 * time.Minute))}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutKey(ctx, tc.in) })
			view(t, s, func(ctx context.Context, tx store.Tx) error {
				got, err := tx.GetKey(ctx, tc.in.ID)
				same(t, "GetKey", got, tc.in)
				return err
			})
		})
	}
	t.Run("revoking updates in place", func(t *testing.T) {
		k := key("key_b", "con_1")
		k.Hash, k.RevokedAt, k.RevokedReason = "h-b", ptr(at(time.Hour)), "rotated"
		update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutKey(ctx, k) })
		view(t, s, func(ctx context.Context, tx store.Tx) error {
			got, err := tx.GetKey(ctx, "key_b")
			same(t, "after revoke", got, k)
			return err
		})
	})
	t.Run("a taken hash conflicts without echoing the hash", func(t *testing.T) {
		dup := key("key_x", "con_1")
		dup.Hash = "h-c"
		err := s.Update(t.Context(), func(tx store.Tx) error { return tx.PutKey(t.Context(), dup) })
		wantErr(t, "duplicate hash", err, store.ErrConflict, "hash")
		if err != nil && strings.Contains(err.Error(), "h-c") {
			t.Errorf("conflict error %q reveals the hash", err)
		}
	})
	t.Run("unknown consumer is not found", func(t *testing.T) {
		err := s.Update(t.Context(), func(tx store.Tx) error {
			return tx.PutKey(t.Context(), key("key_y", "con_missing"))
		})
		wantErr(t, "PutKey", err, store.ErrNotFound, "con_missing")
	})
}

func testServices(t *testing.T, s store.Store) {
	update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutTenant(ctx, tenant("ten_1", "acme")) })
	cases := []struct {
		desc string
		in   domain.Service
	}{
		{"nil targets and zero timeouts", domain.Service{ID: "svc_a", TenantID: "ten_1", Name: "a",
			Visibility: domain.VisibilityPrivate, CreatedAt: t0, UpdatedAt: t0}},
		{"weights are kept as written, zero included", domain.Service{ID: "svc_b", TenantID: "ten_1", Name: "b",
			Targets:    []domain.Target{{URL: "http://a:1", Weight: 0}, {URL: "http://b:2", Weight: 5}},
			Visibility: domain.VisibilityPublished, CreatedAt: t0, UpdatedAt: t0}},
		{"every field set", domain.Service{ID: "svc_c", TenantID: "ten_1", Name: "orders",
			Targets:    []domain.Target{{URL: "https://orders.internal:8443/base", Weight: 3}},
			Visibility: domain.VisibilityPublished, ApprovalRequired: true,
			Timeouts: domain.Timeouts{Connect: domain.Duration(1500 * time.Millisecond), Response: domain.Duration(30 * time.Second),
				Read: domain.Duration(time.Minute), Write: domain.Duration(7 * time.Nanosecond), Idle: domain.Duration(90 * time.Second)},
			Engine: "httputil", HostHeader: "preserve", Environment: domain.EnvTest, EjectAfter: 5, EjectFor: domain.Duration(12 * time.Second),
			Version: "v2", IdentityJWT: &domain.IdentityJWT{Enabled: true, Audience: "https://orders.internal", TTL: domain.Duration(90 * time.Second)},
			Lifecycle: domain.LifecycleDeprecated, DeprecatedAt: ptr(at(time.Minute)), Sunset: ptr(at(90 * 24 * time.Hour)), Successor: "svc_d",
			Declared: true, CreatedAt: at(-time.Hour), UpdatedAt: at(time.Hour)}},
		{"a lifecycle state alone", domain.Service{ID: "svc_e", TenantID: "ten_1", Name: "e",
			Visibility: domain.VisibilityPrivate, Lifecycle: domain.LifecycleActive, CreatedAt: t0, UpdatedAt: t0}},
		{"identity_jwt kept while disabled", domain.Service{ID: "svc_d", TenantID: "ten_1", Name: "d",
			Visibility: domain.VisibilityPrivate, IdentityJWT: &domain.IdentityJWT{Audience: "d", TTL: domain.Duration(time.Minute)},
			CreatedAt: t0, UpdatedAt: t0}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutService(ctx, tc.in) })
			view(t, s, func(ctx context.Context, tx store.Tx) error {
				byID, err := tx.GetService(ctx, tc.in.ID)
				if err != nil {
					return err
				}
				same(t, "by id", byID, tc.in)
				byName, err := tx.GetService(ctx, tc.in.Name)
				same(t, "by name", byName, tc.in)
				return err
			})
		})
	}
	t.Run("a taken name conflicts and is named", func(t *testing.T) {
		err := s.Update(t.Context(), func(tx store.Tx) error {
			return tx.PutService(t.Context(), service("svc_x", "ten_1", "orders"))
		})
		wantErr(t, "duplicate name", err, store.ErrConflict, `"orders"`)
	})
	t.Run("unknown tenant is not found", func(t *testing.T) {
		err := s.Update(t.Context(), func(tx store.Tx) error {
			return tx.PutService(t.Context(), service("svc_y", "ten_missing", "y"))
		})
		wantErr(t, "PutService", err, store.ErrNotFound, "ten_missing")
	})
	t.Run("a service with routes cannot be deleted", func(t *testing.T) {
		update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutRoute(ctx, route("rte_1", "svc_c")) })
		err := s.Update(t.Context(), func(tx store.Tx) error { return tx.DeleteService(t.Context(), "svc_c") })
		wantErr(t, "DeleteService with routes", err, store.ErrConflict, "svc_c")
	})
	t.Run("deleting its routes then the service in one Update works", func(t *testing.T) {
		update(t, s, func(ctx context.Context, tx store.Tx) error {
			if err := tx.DeleteRoute(ctx, "rte_1"); err != nil {
				return err
			}
			return tx.DeleteService(ctx, "svc_c")
		})
		err := s.View(t.Context(), func(tx store.Tx) error {
			_, err := tx.GetService(t.Context(), "svc_c")
			return err
		})
		wantErr(t, "GetService after delete", err, store.ErrNotFound, "svc_c")
	})
}

func testRoutes(t *testing.T, s store.Store) {
	seed(t, s)
	cases := []struct {
		desc string
		in   domain.Route
	}{
		{"nil lists stay nil", domain.Route{ID: "rte_a", ServiceID: "svc_1", CreatedAt: t0, UpdatedAt: t0}},
		{"empty lists stay empty", domain.Route{ID: "rte_b", ServiceID: "svc_1", Hosts: []string{}, Paths: []string{},
			Methods: []string{}, Auth: []string{}, Scopes: []string{}, CreatedAt: t0, UpdatedAt: t0}},
		{"every field set", domain.Route{ID: "rte_c", ServiceID: "svc_1", Name: "orders-v1",
			Hosts: []string{"api.example.com", "*.example.org"}, Paths: []string{"/v1/orders", "/v1/carts"},
			Methods: []string{"GET", "POST"}, Auth: []string{domain.AuthJWT, domain.AuthAPIKey}, Scopes: []string{"orders:read"},
			StripPrefix: true, UpstreamPath: "/internal", QueryKey: true, ForwardCredential: true,
			Disclosure: domain.DisclosureMinimal, ErrorFormat: domain.ErrorFormatOpenAI, MaxBody: 10 << 20, Type: "ai",
			Quota:    &domain.Quota{Limit: 10000, Period: domain.QuotaMonth, By: domain.LimitByCredential},
			Declared: true, CreatedAt: at(-time.Hour), UpdatedAt: at(time.Hour)}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutRoute(ctx, tc.in) })
			view(t, s, func(ctx context.Context, tx store.Tx) error {
				got, err := tx.GetRoute(ctx, tc.in.ID)
				same(t, "GetRoute", got, tc.in)
				return err
			})
		})
	}
	t.Run("unknown service is not found", func(t *testing.T) {
		err := s.Update(t.Context(), func(tx store.Tx) error {
			return tx.PutRoute(t.Context(), route("rte_x", "svc_missing"))
		})
		wantErr(t, "PutRoute", err, store.ErrNotFound, "svc_missing")
	})
	t.Run("delete removes the route", func(t *testing.T) {
		update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteRoute(ctx, "rte_a") })
		err := s.View(t.Context(), func(tx store.Tx) error {
			_, err := tx.GetRoute(t.Context(), "rte_a")
			return err
		})
		wantErr(t, "GetRoute after delete", err, store.ErrNotFound, "rte_a")
	})
}

func testAdmins(t *testing.T, s store.Store) {
	update(t, s, func(ctx context.Context, tx store.Tx) error {
		return errors.Join(tx.PutTenant(ctx, tenant("ten_1", "acme")), tx.PutTenant(ctx, tenant("ten_2", "beta")))
	})
	cases := []struct {
		desc string
		in   domain.Admin
	}{
		{"gateway admin without tenant", admin("adm_a", "")},
		{"tenant admin", admin("adm_b", "ten_1")},
		{"viewer of another tenant", domain.Admin{ID: "adm_c", Name: "c", TokenHash: "token-hash-c", Role: domain.RoleViewer,
			TenantID: "ten_2", CreatedAt: at(time.Hour)}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutAdmin(ctx, tc.in) })
			view(t, s, func(ctx context.Context, tx store.Tx) error {
				got, err := tx.GetAdmin(ctx, tc.in.ID)
				same(t, "GetAdmin", got, tc.in)
				return err
			})
			got, err := s.AdminByTokenHash(t.Context(), tc.in.TokenHash)
			if err != nil {
				t.Fatalf("AdminByTokenHash: %v", err)
			}
			same(t, "AdminByTokenHash", got, tc.in)
		})
	}
	t.Run("unknown token hash is not found and not echoed", func(t *testing.T) {
		_, err := s.AdminByTokenHash(t.Context(), "deadbeef-unknown")
		wantErr(t, "AdminByTokenHash", err, store.ErrNotFound)
		if err != nil && strings.Contains(err.Error(), "deadbeef") {
			t.Errorf("error %q echoes the token hash", err)
		}
	})
	t.Run("a taken token hash conflicts without echoing it", func(t *testing.T) {
		dup := admin("adm_x", "")
		dup.TokenHash = "token-hash-adm_a"
		err := s.Update(t.Context(), func(tx store.Tx) error { return tx.PutAdmin(t.Context(), dup) })
		wantErr(t, "duplicate token", err, store.ErrConflict, "token")
		if err != nil && strings.Contains(err.Error(), "token-hash-adm_a") {
			t.Errorf("error %q echoes the token hash", err)
		}
	})
	t.Run("unknown tenant is not found", func(t *testing.T) {
		err := s.Update(t.Context(), func(tx store.Tx) error {
			return tx.PutAdmin(t.Context(), admin("adm_y", "ten_missing"))
		})
		wantErr(t, "PutAdmin", err, store.ErrNotFound, "ten_missing")
	})
	t.Run("list filters by tenant", func(t *testing.T) {
		got, next, err := s.ListAdmins(t.Context(), store.ListFilter{TenantID: "ten_1"})
		if err != nil || next != "" {
			t.Fatalf("ListAdmins: next %q, %v", next, err)
		}
		same(t, "tenant ten_1 admins", got, []domain.Admin{cases[1].in})
		all, _, err := s.ListAdmins(t.Context(), store.ListFilter{})
		if err != nil {
			t.Fatal(err)
		}
		same(t, "all admin ids", ids(all, func(a domain.Admin) string { return a.ID }), []string{"adm_a", "adm_b", "adm_c"})
	})
	t.Run("delete removes the admin and its token", func(t *testing.T) {
		update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteAdmin(ctx, "adm_a") })
		_, err := s.AdminByTokenHash(t.Context(), "token-hash-adm_a")
		wantErr(t, "AdminByTokenHash after delete", err, store.ErrNotFound)
	})
}

func testAudit(t *testing.T, s store.Store) {
	entry := func(action, tenantID string, before, after json.RawMessage) domain.AuditEntry {
		return domain.AuditEntry{At: t0, Actor: "adm_1", Action: action, Resource: strings.Split(action, ".")[0],
			ResourceID: "obj_" + action, TenantID: tenantID, Before: before, After: after}
	}
	in := []domain.AuditEntry{
		entry("tenant.create", "ten_1", nil, json.RawMessage(`{"slug":"acme"}`)),
		entry("consumer.create", "ten_1", nil, json.RawMessage(`{"name":"shop"}`)),
		entry("key.revoke", "ten_1", json.RawMessage(`{"revoked_at":null}`), json.RawMessage(`{"revoked_at":"2030-01-02T03:04:05Z","reason":"compromised"}`)),
		entry("admin.create", "", nil, nil),
		entry("service.create", "ten_2", nil, json.RawMessage(`[1, 2, {"x": "ü"}]`)),
	}
	// Three entries in one Update, then one Update each: ids must still be
	// unique and increasing in insertion order.
	update(t, s, func(ctx context.Context, tx store.Tx) error {
		return errors.Join(tx.Audit(ctx, in[0]), tx.Audit(ctx, in[1]), tx.Audit(ctx, in[2]))
	})
	for _, e := range in[3:] {
		update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.Audit(ctx, e) })
	}

	all, next, err := s.ListAudit(t.Context(), store.ListFilter{})
	if err != nil || next != "" {
		t.Fatalf("ListAudit: next %q, %v", next, err)
	}
	if len(all) != len(in) {
		t.Fatalf("ListAudit returned %d entries, want %d", len(all), len(in))
	}
	t.Run("newest first with increasing ids and every field kept", func(t *testing.T) {
		for i, got := range all {
			want := in[len(in)-1-i]
			if got.ID <= 0 || (i > 0 && got.ID >= all[i-1].ID) {
				t.Errorf("entry %d has id %d after %d: ids must be positive and listed descending", i, got.ID, all[max(i-1, 0)].ID)
			}
			want.ID = got.ID
			same(t, "entry "+want.Action, got, want)
		}
	})
	t.Run("filter by resource tenant", func(t *testing.T) {
		got, _, err := s.ListAudit(t.Context(), store.ListFilter{TenantID: "ten_1"})
		if err != nil {
			t.Fatal(err)
		}
		same(t, "ten_1 actions", ids(got, func(e domain.AuditEntry) string { return e.Action }),
			[]string{"key.revoke", "consumer.create", "tenant.create"})
	})
	t.Run("pages of two follow the cursor to the end", func(t *testing.T) {
		var got []string
		after := ""
		for range 10 {
			page, next, err := s.ListAudit(t.Context(), store.ListFilter{Page: store.Page{After: after, Limit: 2}})
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, ids(page, func(e domain.AuditEntry) string { return e.Action })...)
			if next == "" {
				break
			}
			after = next
		}
		same(t, "paged actions", got, ids(all, func(e domain.AuditEntry) string { return e.Action }))
	})
	t.Run("a malformed cursor is rejected", func(t *testing.T) {
		_, _, err := s.ListAudit(t.Context(), store.ListFilter{Page: store.Page{After: "not-a-cursor"}})
		wantErr(t, "ListAudit", err, store.ErrBadCursor)
	})
	t.Run("an explicit id is kept and later ids go past it", func(t *testing.T) {
		explicit := entry("import.entry", "", nil, nil)
		explicit.ID = all[0].ID + 100
		update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.Audit(ctx, explicit) })
		update(t, s, func(ctx context.Context, tx store.Tx) error {
			return tx.Audit(ctx, entry("after.import", "", nil, nil))
		})
		got, _, err := s.ListAudit(t.Context(), store.ListFilter{Page: store.Page{Limit: 2}})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[1].ID != explicit.ID || got[0].ID <= explicit.ID || got[0].Action != "after.import" {
			t.Errorf("after an explicit id %d got %s", explicit.ID, dump(got))
		}
	})
}

// testTimes checks the documented normalisation: any location in, UTC out,
// truncated to the microsecond.
func testTimes(t *testing.T, s store.Store) {
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	cases := []struct {
		desc string
		in   time.Time
	}{
		{"UTC with nanoseconds", time.Date(2031, 5, 6, 7, 8, 9, 987654321, time.UTC)},
		{"another zone", time.Date(2031, 5, 6, 7, 8, 9, 1000, zone)},
		{"before 1970", time.Date(1969, 7, 20, 20, 17, 40, 0, time.UTC)},
		{"with a monotonic reading", time.Now()},
	}
	for i, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			id := fmt.Sprintf("ten_%d", i)
			in := tenant(id, id)
			in.CreatedAt, in.SuspendedAt = tc.in, ptr(tc.in)
			update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutTenant(ctx, in) })
			want := tc.in.UTC().Truncate(time.Microsecond)
			view(t, s, func(ctx context.Context, tx store.Tx) error {
				got, err := tx.GetTenant(ctx, id)
				if got.CreatedAt != want || got.SuspendedAt == nil || *got.SuspendedAt != want {
					t.Errorf("stored %v, got created %v suspended %v, want %v (UTC, µs)",
						tc.in, got.CreatedAt, got.SuspendedAt, want)
				}
				return err
			})
		})
	}
}

func testNotFound(t *testing.T, s store.Store) {
	seed(t, s)
	ctx := t.Context()
	cases := []struct {
		desc string
		do   func(tx store.Tx) error
		name string
	}{
		{"GetTenant", func(tx store.Tx) error { _, err := tx.GetTenant(ctx, "nope-tenant"); return err }, "nope-tenant"},
		{"GetConsumer", func(tx store.Tx) error { _, err := tx.GetConsumer(ctx, "nope-consumer"); return err }, "nope-consumer"},
		{"GetConsumerByName in another tenant", func(tx store.Tx) error {
			_, err := tx.GetConsumerByName(ctx, "ten_other", "shop")
			return err
		}, "shop"},
		{"GetKey", func(tx store.Tx) error { _, err := tx.GetKey(ctx, "nope-key"); return err }, "nope-key"},
		{"GetService", func(tx store.Tx) error { _, err := tx.GetService(ctx, "nope-service"); return err }, "nope-service"},
		{"GetRoute", func(tx store.Tx) error { _, err := tx.GetRoute(ctx, "nope-route"); return err }, "nope-route"},
		{"GetAdmin", func(tx store.Tx) error { _, err := tx.GetAdmin(ctx, "nope-admin"); return err }, "nope-admin"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			wantErr(t, tc.desc, s.View(ctx, tc.do), store.ErrNotFound, tc.name)
		})
	}
	deletes := []struct {
		desc string
		do   func(tx store.Tx) error
		name string
	}{
		{"DeleteService", func(tx store.Tx) error { return tx.DeleteService(ctx, "nope-service") }, "nope-service"},
		{"DeleteRoute", func(tx store.Tx) error { return tx.DeleteRoute(ctx, "nope-route") }, "nope-route"},
		{"DeleteAdmin", func(tx store.Tx) error { return tx.DeleteAdmin(ctx, "nope-admin") }, "nope-admin"},
	}
	for _, tc := range deletes {
		t.Run(tc.desc, func(t *testing.T) {
			v := version(t, s)
			wantErr(t, tc.desc, s.Update(ctx, tc.do), store.ErrNotFound, tc.name)
			if got := version(t, s); got != v {
				t.Errorf("failed %s moved the version %d → %d", tc.desc, v, got)
			}
		})
	}
	t.Run("GetCall", func(t *testing.T) {
		_, err := s.GetCall(ctx, "nope-call")
		wantErr(t, "GetCall", err, store.ErrNotFound, "nope-call")
	})
}

func testVersion(t *testing.T, s store.Store) {
	ctx := t.Context()
	v0 := version(t, s)
	errBoom := errors.New("boom")

	t.Run("one bump for an Update with several writes", func(t *testing.T) {
		update(t, s, func(ctx context.Context, tx store.Tx) error {
			return errors.Join(tx.PutTenant(ctx, tenant("ten_1", "acme")), tx.PutTenant(ctx, tenant("ten_2", "beta")),
				tx.PutConsumer(ctx, consumer("con_1", "ten_1", "shop")), tx.Audit(ctx, domain.AuditEntry{At: t0, Action: "x"}))
		})
		if got := version(t, s); got != v0+1 {
			t.Errorf("version %d, want %d", got, v0+1)
		}
	})
	t.Run("one bump for an Update that writes nothing", func(t *testing.T) {
		update(t, s, func(ctx context.Context, tx store.Tx) error { return nil })
		if got := version(t, s); got != v0+2 {
			t.Errorf("version %d, want %d", got, v0+2)
		}
	})
	t.Run("an error from fn is returned, rolls back every write, keeps the version", func(t *testing.T) {
		err := s.Update(ctx, func(tx store.Tx) error {
			if err := tx.PutTenant(ctx, tenant("ten_3", "gamma")); err != nil {
				return err
			}
			c := consumer("con_1", "ten_1", "renamed")
			if err := tx.PutConsumer(ctx, c); err != nil {
				return err
			}
			if err := tx.Audit(ctx, domain.AuditEntry{At: t0, Action: "rolled.back"}); err != nil {
				return err
			}
			return fmt.Errorf("validation: %w", errBoom)
		})
		if !errors.Is(err, errBoom) {
			t.Fatalf("Update returned %v, want the fn's error", err)
		}
		if got := version(t, s); got != v0+2 {
			t.Errorf("version %d after a failed Update, want %d", got, v0+2)
		}
		view(t, s, func(ctx context.Context, tx store.Tx) error {
			if _, err := tx.GetTenant(ctx, "ten_3"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("tenant from the failed Update exists: %v", err)
			}
			c, err := tx.GetConsumer(ctx, "con_1")
			if c.Name != "shop" {
				t.Errorf("consumer name %q after rollback, want shop", c.Name)
			}
			return err
		})
		entries, _, err := s.ListAudit(ctx, store.ListFilter{})
		if err != nil || len(entries) != 1 {
			t.Errorf("audit after rollback: %d entries, %v; want only the committed one", len(entries), err)
		}
	})
	t.Run("a conflict mid-Update rolls back the earlier writes", func(t *testing.T) {
		err := s.Update(ctx, func(tx store.Tx) error {
			if err := tx.PutTenant(ctx, tenant("ten_4", "delta")); err != nil {
				return err
			}
			return tx.PutTenant(ctx, tenant("ten_5", "acme"))
		})
		wantErr(t, "Update", err, store.ErrConflict, "acme")
		if got := version(t, s); got != v0+2 {
			t.Errorf("version %d, want %d", got, v0+2)
		}
		err = s.View(ctx, func(tx store.Tx) error { _, err := tx.GetTenant(ctx, "ten_4"); return err })
		wantErr(t, "tenant written before the conflict", err, store.ErrNotFound)
	})
	t.Run("Load reports the same version", func(t *testing.T) {
		d, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d.Version != v0+2 {
			t.Errorf("Load version %d, want %d", d.Version, v0+2)
		}
	})
}

func testView(t *testing.T, s store.Store) {
	seed(t, s)
	update(t, s, func(ctx context.Context, tx store.Tx) error {
		return errors.Join(tx.PutRoute(ctx, route("rte_1", "svc_1")), tx.PutAdmin(ctx, admin("adm_1", "")))
	})
	v := version(t, s)
	ctx := t.Context()
	writes := []struct {
		desc string
		do   func(tx store.Tx) error
	}{
		{"PutTenant", func(tx store.Tx) error { return tx.PutTenant(ctx, tenant("ten_9", "nine")) }},
		{"PutConsumer", func(tx store.Tx) error { return tx.PutConsumer(ctx, consumer("con_9", "ten_1", "nine")) }},
		{"PutKey", func(tx store.Tx) error { return tx.PutKey(ctx, key("key_9", "con_1")) }},
		{"PutService", func(tx store.Tx) error { return tx.PutService(ctx, service("svc_9", "ten_1", "nine")) }},
		{"DeleteService", func(tx store.Tx) error { return tx.DeleteService(ctx, "svc_1") }},
		{"PutRoute", func(tx store.Tx) error { return tx.PutRoute(ctx, route("rte_9", "svc_1")) }},
		{"DeleteRoute", func(tx store.Tx) error { return tx.DeleteRoute(ctx, "rte_1") }},
		{"PutAdmin", func(tx store.Tx) error { return tx.PutAdmin(ctx, admin("adm_9", "")) }},
		{"DeleteAdmin", func(tx store.Tx) error { return tx.DeleteAdmin(ctx, "adm_1") }},
		{"Audit", func(tx store.Tx) error { return tx.Audit(ctx, domain.AuditEntry{At: t0, Action: "x"}) }},
		{"PutSubscription", func(tx store.Tx) error {
			v := subscription("sub_9", "con_1", "svc_1", domain.SubscriptionPending)
			v.ServiceTenantID = "ten_1"
			return tx.PutSubscription(ctx, v)
		}},
	}
	for _, tc := range writes {
		t.Run(tc.desc+" is refused", func(t *testing.T) {
			var inner error
			err := s.View(ctx, func(tx store.Tx) error {
				inner = tc.do(tx)
				return nil
			})
			if err != nil {
				t.Fatalf("View: %v", err)
			}
			wantErr(t, tc.desc, inner, store.ErrReadOnly)
		})
	}
	t.Run("nothing was written and the version did not move", func(t *testing.T) {
		d, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d.Version != v || len(d.Tenants) != 1 || len(d.Consumers) != 1 || len(d.Keys) != 0 ||
			len(d.Services) != 1 || len(d.Routes) != 1 {
			t.Errorf("after refused writes: version %d (want %d), %d tenants, %d consumers, %d keys, %d services, %d routes",
				d.Version, v, len(d.Tenants), len(d.Consumers), len(d.Keys), len(d.Services), len(d.Routes))
		}
		if _, err := s.AdminByTokenHash(ctx, "token-hash-adm_1"); err != nil {
			t.Errorf("admin deleted through View: %v", err)
		}
		if a, _, _ := s.ListAudit(ctx, store.ListFilter{}); len(a) != 0 {
			t.Errorf("audit written through View: %s", dump(a))
		}
	})
	t.Run("reads work and fn's error is returned", func(t *testing.T) {
		errStop := errors.New("stop")
		err := s.View(ctx, func(tx store.Tx) error {
			if _, err := tx.GetService(ctx, "orders"); err != nil {
				return err
			}
			return errStop
		})
		if !errors.Is(err, errStop) {
			t.Errorf("View returned %v, want fn's error", err)
		}
	})
}

func testLoad(t *testing.T, s store.Store) {
	ctx := t.Context()
	empty, err := s.Load(ctx)
	if err != nil {
		t.Fatalf("Load of an empty store: %v", err)
	}
	if len(empty.Tenants)+len(empty.Consumers)+len(empty.Keys)+len(empty.Services)+len(empty.Routes) != 0 {
		t.Errorf("empty store loaded %s", dump(empty))
	}

	deleted := consumer("con_2", "ten_1", "gone")
	deleted.Status, deleted.DeletedAt = domain.StatusDeleted, ptr(at(time.Hour))
	want := store.Data{
		Tenants:   []domain.Tenant{tenant("ten_1", "acme"), tenant("ten_2", "beta")},
		Consumers: []domain.Consumer{consumer("con_1", "ten_1", "shop"), deleted, consumer("con_3", "ten_2", "shop")},
		Keys:      []domain.APIKey{key("key_1", "con_1"), key("key_2", "con_2"), key("key_3", "con_3")},
		Services:  []domain.Service{service("svc_1", "ten_1", "orders"), service("svc_2", "ten_2", "billing")},
		Routes:    []domain.Route{route("rte_1", "svc_1"), route("rte_2", "svc_1"), route("rte_3", "svc_2")},
	}
	update(t, s, func(ctx context.Context, tx store.Tx) error {
		var errs []error
		for _, v := range want.Tenants {
			errs = append(errs, tx.PutTenant(ctx, v))
		}
		for _, v := range want.Consumers {
			errs = append(errs, tx.PutConsumer(ctx, v))
		}
		for _, v := range want.Keys {
			errs = append(errs, tx.PutKey(ctx, v))
		}
		for _, v := range want.Services {
			errs = append(errs, tx.PutService(ctx, v))
		}
		for _, v := range want.Routes {
			errs = append(errs, tx.PutRoute(ctx, v))
		}
		errs = append(errs, tx.PutAdmin(ctx, admin("adm_1", "ten_1")))
		return errors.Join(errs...)
	})
	got, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want.Version = version(t, s)
	if got.Version != want.Version {
		t.Errorf("Load version %d, Version() %d", got.Version, want.Version)
	}
	same(t, "tenants", sortedByID(got.Tenants, func(v domain.Tenant) string { return v.ID }), want.Tenants)
	same(t, "consumers (deleted included)", sortedByID(got.Consumers, func(v domain.Consumer) string { return v.ID }), want.Consumers)
	same(t, "keys", sortedByID(got.Keys, func(v domain.APIKey) string { return v.ID }), want.Keys)
	same(t, "services", sortedByID(got.Services, func(v domain.Service) string { return v.ID }), want.Services)
	same(t, "routes", sortedByID(got.Routes, func(v domain.Route) string { return v.ID }), want.Routes)
}

// testListPagination pages every list through limit-3 pages: the pages
// join to the full id-ordered list and the last page has no cursor.
func testListPagination(t *testing.T, s store.Store) {
	const n = 7
	update(t, s, func(ctx context.Context, tx store.Tx) error {
		var errs []error
		errs = append(errs, tx.PutTenant(ctx, tenant("ten_0", "t0")), tx.PutConsumer(ctx, consumer("con_0", "ten_0", "c0")),
			tx.PutService(ctx, service("svc_0", "ten_0", "s0")))
		for i := 1; i < n; i++ {
			errs = append(errs, tx.PutTenant(ctx, tenant(fmt.Sprintf("ten_%d", i), fmt.Sprintf("t%d", i))),
				tx.PutConsumer(ctx, consumer(fmt.Sprintf("con_%d", i), "ten_0", fmt.Sprintf("c%d", i))),
				tx.PutService(ctx, service(fmt.Sprintf("svc_%d", i), "ten_0", fmt.Sprintf("s%d", i))))
		}
		for i := range n {
			errs = append(errs, tx.PutKey(ctx, key(fmt.Sprintf("key_%d", i), "con_0")),
				tx.PutRoute(ctx, route(fmt.Sprintf("rte_%d", i), "svc_0")),
				tx.PutAdmin(ctx, admin(fmt.Sprintf("adm_%d", i), "")))
		}
		return errors.Join(errs...)
	})
	expect := func(prefix string) []string {
		out := make([]string, n)
		for i := range n {
			out[i] = fmt.Sprintf("%s_%d", prefix, i)
		}
		return out
	}
	ctx := t.Context()
	lists := []struct {
		desc   string
		prefix string
		page   func(p store.Page) ([]string, string, error)
	}{
		{"tenants", "ten", func(p store.Page) ([]string, string, error) {
			v, next, err := s.ListTenants(ctx, store.ListFilter{Page: p})
			return ids(v, func(x domain.Tenant) string { return x.ID }), next, err
		}},
		{"consumers", "con", func(p store.Page) ([]string, string, error) {
			v, next, err := s.ListConsumers(ctx, store.ListFilter{Page: p})
			return ids(v, func(x domain.Consumer) string { return x.ID }), next, err
		}},
		{"keys", "key", func(p store.Page) ([]string, string, error) {
			v, next, err := s.ListKeys(ctx, store.ListFilter{Page: p})
			return ids(v, func(x domain.APIKey) string { return x.ID }), next, err
		}},
		{"services", "svc", func(p store.Page) ([]string, string, error) {
			v, next, err := s.ListServices(ctx, store.ListFilter{Page: p})
			return ids(v, func(x domain.Service) string { return x.ID }), next, err
		}},
		{"routes", "rte", func(p store.Page) ([]string, string, error) {
			v, next, err := s.ListRoutes(ctx, store.ListFilter{Page: p})
			return ids(v, func(x domain.Route) string { return x.ID }), next, err
		}},
		{"admins", "adm", func(p store.Page) ([]string, string, error) {
			v, next, err := s.ListAdmins(ctx, store.ListFilter{Page: p})
			return ids(v, func(x domain.Admin) string { return x.ID }), next, err
		}},
	}
	for _, l := range lists {
		t.Run(l.desc, func(t *testing.T) {
			var got []string
			var sizes []int
			after := ""
			for range n + 1 {
				page, next, err := l.page(store.Page{After: after, Limit: 3})
				if err != nil {
					t.Fatal(err)
				}
				got, sizes = append(got, page...), append(sizes, len(page))
				if next == "" {
					break
				}
				after = next
			}
			same(t, "ids across pages", got, expect(l.prefix))
			same(t, "page sizes", sizes, []int{3, 3, 1})
		})
	}
}

func testListFilters(t *testing.T, s store.Store) {
	update(t, s, func(ctx context.Context, tx store.Tx) error {
		return errors.Join(
			tx.PutTenant(ctx, tenant("ten_1", "acme")), tx.PutTenant(ctx, tenant("ten_2", "beta")),
			tx.PutConsumer(ctx, consumer("con_1", "ten_1", "shop")), tx.PutConsumer(ctx, consumer("con_2", "ten_1", "web")),
			tx.PutConsumer(ctx, consumer("con_3", "ten_2", "shop")),
			tx.PutKey(ctx, key("key_1", "con_1")), tx.PutKey(ctx, key("key_2", "con_2")), tx.PutKey(ctx, key("key_3", "con_1")),
			tx.PutService(ctx, service("svc_1", "ten_1", "orders")), tx.PutService(ctx, service("svc_2", "ten_2", "billing")),
			tx.PutService(ctx, service("svc_3", "ten_1", "users")),
			tx.PutRoute(ctx, route("rte_1", "svc_1")), tx.PutRoute(ctx, route("rte_2", "svc_2")), tx.PutRoute(ctx, route("rte_3", "svc_1")),
		)
	})
	ctx := t.Context()
	consumers := func(f store.ListFilter) ([]string, error) {
		v, _, err := s.ListConsumers(ctx, f)
		return ids(v, func(x domain.Consumer) string { return x.ID }), err
	}
	keys := func(f store.ListFilter) ([]string, error) {
		v, _, err := s.ListKeys(ctx, f)
		return ids(v, func(x domain.APIKey) string { return x.ID }), err
	}
	services := func(f store.ListFilter) ([]string, error) {
		v, _, err := s.ListServices(ctx, f)
		return ids(v, func(x domain.Service) string { return x.ID }), err
	}
	routes := func(f store.ListFilter) ([]string, error) {
		v, _, err := s.ListRoutes(ctx, f)
		return ids(v, func(x domain.Route) string { return x.ID }), err
	}
	cases := []struct {
		desc string
		list func(store.ListFilter) ([]string, error)
		f    store.ListFilter
		want []string
	}{
		{"consumers of a tenant", consumers, store.ListFilter{TenantID: "ten_1"}, []string{"con_1", "con_2"}},
		{"consumers by name across tenants", consumers, store.ListFilter{Name: "shop"}, []string{"con_1", "con_3"}},
		{"consumers by tenant and name", consumers, store.ListFilter{TenantID: "ten_2", Name: "shop"}, []string{"con_3"}},
		{"consumers matching nothing", consumers, store.ListFilter{TenantID: "ten_2", Name: "web"}, []string{}},
		{"keys of a consumer", keys, store.ListFilter{ConsumerID: "con_1"}, []string{"key_1", "key_3"}},
		{"services of a tenant", services, store.ListFilter{TenantID: "ten_1"}, []string{"svc_1", "svc_3"}},
		{"services by name", services, store.ListFilter{Name: "billing"}, []string{"svc_2"}},
		{"routes of a service", routes, store.ListFilter{ServiceID: "svc_1"}, []string{"rte_1", "rte_3"}},
		{"after skips up to the cursor", routes, store.ListFilter{Page: store.Page{After: "rte_1"}}, []string{"rte_2", "rte_3"}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := tc.list(tc.f)
			if err != nil {
				t.Fatal(err)
			}
			same(t, "ids", got, tc.want)
		})
	}
}

func testListDefaultLimit(t *testing.T, s store.Store) {
	update(t, s, func(ctx context.Context, tx store.Tx) error {
		var errs []error
		for i := range 101 {
			errs = append(errs, tx.PutTenant(ctx, tenant(fmt.Sprintf("ten_%03d", i), fmt.Sprintf("t%03d", i))))
		}
		return errors.Join(errs...)
	})
	cases := []struct {
		desc     string
		limit    int
		wantLen  int
		wantNext string
	}{
		{"limit 0 means 100", 0, 100, "ten_099"},
		{"a negative limit means 100", -5, 100, "ten_099"},
		{"an explicit limit above the rows returns them all", 500, 101, ""},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			got, next, err := s.ListTenants(t.Context(), store.ListFilter{Page: store.Page{Limit: tc.limit}})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.wantLen || next != tc.wantNext {
				t.Errorf("%d items, next %q; want %d, %q", len(got), next, tc.wantLen, tc.wantNext)
			}
		})
	}
}
