// Package storetest is the conformance suite every store.Store
// implementation runs: the embedded SQLite store today, the PostgreSQL store
// later. It checks behaviour through the public interface only, so both
// engines are held to the same contract:
//
//   - every field round-trips exactly, including nil versus empty slices and
//     maps and nil versus set times; times come back in UTC, truncated to the
//     microsecond;
//   - unique fields conflict with store.ErrConflict and a message naming the
//     field and value (never a secret's hash); missing objects answer
//     store.ErrNotFound naming the object;
//   - Update is all-or-nothing and bumps the version exactly once per
//     successful call; View refuses writes with store.ErrReadOnly;
//   - lists page by cursor (default 100, at most 1000 per page) and filter;
//     calls come newest first and every CallFilter field narrows them;
//   - InsertCalls is idempotent per request ID; calls and TouchKeys are not
//     admin changes and leave the version alone.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

// Run runs the whole suite. open must return a new, empty, migrated store
// each time it is called and arrange for its Close (t.Cleanup).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Tenants", testTenants},
		{"Consumers", testConsumers},
		{"ConsumerNames", testConsumerNames},
		{"Keys", testKeys},
		{"Services", testServices},
		{"Routes", testRoutes},
		{"Admins", testAdmins},
		{"Audit", testAudit},
		{"Times", testTimes},
		{"NotFound", testNotFound},
		{"Version", testVersion},
		{"View", testView},
		{"Load", testLoad},
		{"ListPagination", testListPagination},
		{"ListFilters", testListFilters},
		{"ListDefaultLimit", testListDefaultLimit},
		{"Calls", testCalls},
		{"CallFilters", testCallFilters},
		{"CallPagination", testCallPagination},
		{"CallLimits", testCallLimits},
		{"Retention", testRetention},
		{"TouchKeys", testTouchKeys},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"Subscriptions", testSubscriptions},
		{"SubscriptionLists", testSubscriptionLists},
		{"LoadAccess", testLoadAccess},
		{"CurrentSubscriptions", testCurrentSubscriptions},
		{"DeleteServiceWithSubscriptions", testDeleteServiceWithSubscriptions},
		{"RouteRateLimit", testRouteRateLimit},
		{"RouteCORS", testRouteCORS},
		{"AuditOtherTenant", testAuditOtherTenant},
		{"Issuers", testIssuers},
		{"Credentials", testCredentials},
		{"CredentialLists", testCredentialLists},
		{"ServiceIdentityJWT", testServiceIdentityJWT},
		{"IdentityKeys", testIdentityKeys},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// t0 has microsecond precision and UTC location: what a store returns.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func ptr(t time.Time) *time.Time { return &t }

func tenant(id, slug string) domain.Tenant {
	return domain.Tenant{ID: id, Slug: slug, Name: "Tenant " + slug, Status: domain.StatusActive, CreatedAt: t0, UpdatedAt: t0}
}

func consumer(id, tenantID, name string) domain.Consumer {
	return domain.Consumer{ID: id, TenantID: tenantID, Name: name, Status: domain.StatusActive,
		Scopes: []string{"orders:read"}, CreatedAt: t0, UpdatedAt: t0}
}

func key(id, consumerID string) domain.APIKey {
	return domain.APIKey{ID: id, ConsumerID: consumerID, Environment: domain.EnvLive, Hash: "sha256-of-" + id,
		Last4: "ab12", Scopes: []string{"orders:read"}, CreatedAt: t0}
}

func service(id, tenantID, name string) domain.Service {
	return domain.Service{ID: id, TenantID: tenantID, Name: name, Targets: []domain.Target{{URL: "http://127.0.0.1:9", Weight: 1}},
		Visibility: domain.VisibilityPrivate, CreatedAt: t0, UpdatedAt: t0}
}

func route(id, serviceID string) domain.Route {
	return domain.Route{ID: id, ServiceID: serviceID, Paths: []string{"/" + id}, Auth: []string{domain.AuthAPIKey},
		CreatedAt: t0, UpdatedAt: t0}
}

func admin(id, tenantID string) domain.Admin {
	role := domain.RoleAdmin
	if tenantID != "" {
		role = domain.RoleTenantAdmin
	}
	return domain.Admin{ID: id, Name: "admin " + id, TokenHash: "token-hash-" + id, Role: role, TenantID: tenantID, CreatedAt: t0}
}

// update runs fn in an Update and fails the test on error.
func update(t *testing.T, s store.Store, fn func(ctx context.Context, tx store.Tx) error) {
	t.Helper()
	ctx := t.Context()
	if err := s.Update(ctx, func(tx store.Tx) error { return fn(ctx, tx) }); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

// view runs fn in a View and fails the test on error.
func view(t *testing.T, s store.Store, fn func(ctx context.Context, tx store.Tx) error) {
	t.Helper()
	ctx := t.Context()
	if err := s.View(ctx, func(tx store.Tx) error { return fn(ctx, tx) }); err != nil {
		t.Fatalf("View: %v", err)
	}
}

// seed creates tenant ten_1 ("acme"), consumer con_1, service svc_1.
func seed(t *testing.T, s store.Store) {
	t.Helper()
	update(t, s, func(ctx context.Context, tx store.Tx) error {
		return errors.Join(
			tx.PutTenant(ctx, tenant("ten_1", "acme")),
			tx.PutConsumer(ctx, consumer("con_1", "ten_1", "shop")),
			tx.PutService(ctx, service("svc_1", "ten_1", "orders")),
		)
	})
}

func version(t *testing.T, s store.Store) int64 {
	t.Helper()
	v, err := s.Version(t.Context())
	if err != nil {
		t.Fatalf("Version: %v", err)
	}
	return v
}

// same fails the test unless got and want are deeply equal.
func same[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got  %s\n want %s", what, dump(got), dump(want))
	}
}

// dump renders v for a failure message: JSON (so nil and empty differ),
// plus the fields JSON hides.
func dump(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%+v", v)
	}
	extra := ""
	switch x := v.(type) {
	case domain.APIKey:
		extra = " hash=" + x.Hash
	case domain.Admin:
		extra = " token_hash=" + x.TokenHash
	}
	return string(b) + extra
}

// wantErr checks err is (wraps) kind and its message contains every part.
func wantErr(t *testing.T, what string, err, kind error, parts ...string) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Errorf("%s: error %v, want %v", what, err, kind)
		return
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q does not name %q", what, err, p)
		}
	}
}

func ids[T any](items []T, id func(T) string) []string {
	out := make([]string, len(items))
	for i, v := range items {
		out[i] = id(v)
	}
	return out
}

func sortedByID[T any](items []T, id func(T) string) []T {
	out := append([]T(nil), items...)
	sort.Slice(out, func(i, j int) bool { return id(out[i]) < id(out[j]) })
	return out
}
