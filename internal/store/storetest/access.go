package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

func subscription(id, consumerID, serviceID, state string) domain.Subscription {
	return domain.Subscription{ID: id, ConsumerID: consumerID, ServiceID: serviceID, ConsumerTenantID: "ten_1",
		ServiceTenantID: "ten_2", State: state, RequestedBy: "ops (adm_1)", RequestedAt: t0, CreatedAt: t0, UpdatedAt: t0}
}

// seedAccess creates tenants ten_1 (consumers con_1, con_2) and ten_2
// (services svc_1, svc_2).
func seedAccess(t *testing.T, s store.Store) {
	t.Helper()
	update(t, s, func(ctx context.Context, tx store.Tx) error {
		return errors.Join(
			tx.PutTenant(ctx, tenant("ten_1", "acme")), tx.PutTenant(ctx, tenant("ten_2", "globex")),
			tx.PutConsumer(ctx, consumer("con_1", "ten_1", "shop")), tx.PutConsumer(ctx, consumer("con_2", "ten_1", "web")),
			tx.PutService(ctx, service("svc_1", "ten_2", "orders")), tx.PutService(ctx, service("svc_2", "ten_2", "billing")),
		)
	})
}

func getSubscription(t *testing.T, s store.Store, id string) (domain.Subscription, error) {
	var got domain.Subscription
	err := s.View(t.Context(), func(tx store.Tx) error {
		var err error
		got, err = tx.GetSubscription(t.Context(), id)
		return err
	})
	return got, err
}

func testSubscriptions(t *testing.T, s store.Store) {
	seedAccess(t, s)
	decided, revoked := at(time.Hour), at(2*time.Hour)
	cases := []struct {
		desc string
		in   domain.Subscription
	}{
		{"pending, no plan, optional times nil", subscription("sub_a", "con_1", "svc_1", domain.SubscriptionPending)},
		{"every field set, plan with a rate limit", domain.Subscription{ID: "sub_b", ConsumerID: "con_2", ServiceID: "svc_1",
			ConsumerTenantID: "ten_1", ServiceTenantID: "ten_2", State: domain.SubscriptionRevoked,
			Plan: &domain.Plan{Name: "gold", RateLimit: &domain.RateLimit{Limit: 100, Period: domain.Duration(time.Minute), By: domain.LimitByCredential},
				Quota: &domain.Quota{Limit: 5000, Period: domain.QuotaDay}},
			RequestNote: `needs "orders" for checkout`, RequestedBy: "acme-ops (adm_2)", RequestedAt: at(-time.Hour),
			DecidedBy: "globex-ops (adm_3)", DecisionNote: "ok", DecidedAt: &decided,
			RevokedAt: &revoked, RevokedBy: "root (adm_1)", RevokeNote: "contract ended", CreatedAt: at(-time.Hour), UpdatedAt: revoked}},
		{"plan without a rate limit", func() domain.Subscription {
			v := subscription("sub_c", "con_1", "svc_2", domain.SubscriptionApproved)
			v.Plan = &domain.Plan{Name: "free"}
			return v
		}()},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutSubscription(ctx, tc.in) })
			got, err := getSubscription(t, s, tc.in.ID)
			if err != nil {
				t.Fatal(err)
			}
			same(t, "GetSubscription", got, tc.in)
		})
	}
	t.Run("a second open subscription for the same pair conflicts and writes nothing", func(t *testing.T) {
		err := s.Update(t.Context(), func(tx store.Tx) error {
			return tx.PutSubscription(t.Context(), subscription("sub_x", "con_1", "svc_1", domain.SubscriptionApproved))
		})
		wantErr(t, "duplicate open", err, store.ErrConflict, "con_1", "svc_1", "open")
		if _, err := getSubscription(t, s, "sub_x"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("conflicting subscription stored: %v", err)
		}
	})
	t.Run("closed subscriptions of the same pair may repeat beside an open one", func(t *testing.T) {
		update(t, s, func(ctx context.Context, tx store.Tx) error {
			return errors.Join(
				tx.PutSubscription(ctx, subscription("sub_r1", "con_1", "svc_1", domain.SubscriptionRejected)),
				tx.PutSubscription(ctx, subscription("sub_r2", "con_1", "svc_1", domain.SubscriptionRevoked)))
		})
	})
	t.Run("OpenSubscription finds the pending or approved one only", func(t *testing.T) {
		cases := []struct {
			desc, consumer, service, want string
		}{
			{"pending beside closed ones", "con_1", "svc_1", "sub_a"},
			{"approved", "con_1", "svc_2", "sub_c"},
			{"only a revoked one", "con_2", "svc_1", ""},
			{"none at all", "con_2", "svc_2", ""},
		}
		for _, c := range cases {
			err := s.View(t.Context(), func(tx store.Tx) error {
				got, err := tx.OpenSubscription(t.Context(), c.consumer, c.service)
				if c.want == "" {
					wantErr(t, c.desc, err, store.ErrNotFound, c.consumer, c.service)
					return nil
				}
				if got.ID != c.want {
					t.Errorf("%s: OpenSubscription = %q, want %q", c.desc, got.ID, c.want)
				}
				return err
			})
			if err != nil {
				t.Errorf("%s: %v", c.desc, err)
			}
		}
	})
	t.Run("closing the open one frees the pair for a new request", func(t *testing.T) {
		v, err := getSubscription(t, s, "sub_a")
		if err != nil {
			t.Fatal(err)
		}
		v.State = domain.SubscriptionRejected
		update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutSubscription(ctx, v) })
		update(t, s, func(ctx context.Context, tx store.Tx) error {
			return tx.PutSubscription(ctx, subscription("sub_d", "con_1", "svc_1", domain.SubscriptionPending))
		})
	})
	t.Run("missing parents are named", func(t *testing.T) {
		bad := []struct {
			desc    string
			mutate  func(*domain.Subscription)
			missing string
		}{
			{"consumer", func(v *domain.Subscription) { v.ConsumerID = "con_missing" }, "con_missing"},
			{"service", func(v *domain.Subscription) { v.ServiceID = "svc_missing" }, "svc_missing"},
			{"consumer tenant", func(v *domain.Subscription) { v.ConsumerTenantID = "ten_missing" }, "ten_missing"},
			{"service tenant", func(v *domain.Subscription) { v.ServiceTenantID = "ten_gone" }, "ten_gone"},
		}
		for _, b := range bad {
			v := subscription("sub_y", "con_2", "svc_2", domain.SubscriptionPending)
			b.mutate(&v)
			err := s.Update(t.Context(), func(tx store.Tx) error { return tx.PutSubscription(t.Context(), v) })
			wantErr(t, "PutSubscription with a missing "+b.desc, err, store.ErrNotFound, b.missing)
		}
	})
	t.Run("unknown id is not found and named", func(t *testing.T) {
		_, err := getSubscription(t, s, "sub_nope")
		wantErr(t, "GetSubscription", err, store.ErrNotFound, "sub_nope")
	})
}

func testSubscriptionLists(t *testing.T, s store.Store) {
	seedAccess(t, s)
	update(t, s, func(ctx context.Context, tx store.Tx) error {
		own := subscription("sub_5", "con_3", "svc_3", domain.SubscriptionApproved)
		own.ConsumerTenantID, own.ServiceTenantID = "ten_3", "ten_3"
		return errors.Join(
			tx.PutTenant(ctx, tenant("ten_3", "initech")), tx.PutConsumer(ctx, consumer("con_3", "ten_3", "app")),
			tx.PutService(ctx, service("svc_3", "ten_3", "hr")),
			tx.PutSubscription(ctx, subscription("sub_1", "con_1", "svc_1", domain.SubscriptionPending)),
			tx.PutSubscription(ctx, subscription("sub_2", "con_1", "svc_2", domain.SubscriptionApproved)),
			tx.PutSubscription(ctx, subscription("sub_3", "con_2", "svc_1", domain.SubscriptionRejected)),
			tx.PutSubscription(ctx, subscription("sub_4", "con_2", "svc_1", domain.SubscriptionPending)),
			tx.PutSubscription(ctx, own),
		)
	})
	cases := []struct {
		desc string
		f    store.ListFilter
		want []string
	}{
		{"all in id order", store.ListFilter{}, []string{"sub_1", "sub_2", "sub_3", "sub_4", "sub_5"}},
		{"by consumer", store.ListFilter{ConsumerID: "con_2"}, []string{"sub_3", "sub_4"}},
		{"by service", store.ListFilter{ServiceID: "svc_2"}, []string{"sub_2"}},
		{"by state", store.ListFilter{State: domain.SubscriptionPending}, []string{"sub_1", "sub_4"}},
		{"by the consumer's tenant", store.ListFilter{TenantID: "ten_1"}, []string{"sub_1", "sub_2", "sub_3", "sub_4"}},
		{"by the service's tenant", store.ListFilter{TenantID: "ten_2"}, []string{"sub_1", "sub_2", "sub_3", "sub_4"}},
		{"a tenant on both sides", store.ListFilter{TenantID: "ten_3"}, []string{"sub_5"}},
		{"filters combine", store.ListFilter{TenantID: "ten_1", ServiceID: "svc_1", State: domain.SubscriptionPending}, []string{"sub_1", "sub_4"}},
		{"matching nothing", store.ListFilter{ConsumerID: "con_3", ServiceID: "svc_1"}, []string{}},
		{"after skips up to the cursor", store.ListFilter{Page: store.Page{After: "sub_3"}}, []string{"sub_4", "sub_5"}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			got, next, err := s.ListSubscriptions(t.Context(), tc.f)
			if err != nil || next != "" {
				t.Fatalf("ListSubscriptions: next %q, %v", next, err)
			}
			same(t, "ids", ids(got, func(v domain.Subscription) string { return v.ID }), tc.want)
		})
	}
	t.Run("pages of two", func(t *testing.T) {
		var got []string
		after := ""
		for range 5 {
			page, next, err := s.ListSubscriptions(t.Context(), store.ListFilter{Page: store.Page{After: after, Limit: 2}})
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, ids(page, func(v domain.Subscription) string { return v.ID })...)
			if next == "" {
				break
			}
			after = next
		}
		same(t, "ids across pages", got, []string{"sub_1", "sub_2", "sub_3", "sub_4", "sub_5"})
	})
}

// testLoadAccess checks Data.Subscriptions holds exactly the current
// subscription per pair and Data.Approvers the approving admins' names.
func testLoadAccess(t *testing.T, s store.Store) {
	seedAccess(t, s)
	mk := func(id, consumerID, serviceID, state string, updated time.Duration) domain.Subscription {
		v := subscription(id, consumerID, serviceID, state)
		v.UpdatedAt = at(updated)
		return v
	}
	all := []domain.Subscription{
		// con_1/svc_1: a pending request beats newer closed ones.
		mk("sub_1", "con_1", "svc_1", domain.SubscriptionRejected, time.Hour),
		mk("sub_2", "con_1", "svc_1", domain.SubscriptionPending, 0),
		mk("sub_3", "con_1", "svc_1", domain.SubscriptionRevoked, 2*time.Hour),
		// con_1/svc_2: only closed ones: the one updated last.
		mk("sub_4", "con_1", "svc_2", domain.SubscriptionRevoked, 3*time.Hour),
		mk("sub_5", "con_1", "svc_2", domain.SubscriptionRejected, time.Hour),
		// con_2/svc_1: closed ones updated at the same time: the larger id.
		mk("sub_6", "con_2", "svc_1", domain.SubscriptionRejected, time.Hour),
		mk("sub_7", "con_2", "svc_1", domain.SubscriptionRevoked, time.Hour),
		// con_2/svc_2: approved alone.
		mk("sub_8", "con_2", "svc_2", domain.SubscriptionApproved, 0),
	}
	update(t, s, func(ctx context.Context, tx store.Tx) error {
		var errs []error
		for _, v := range all {
			errs = append(errs, tx.PutSubscription(ctx, v))
		}
		viewer := admin("adm_v", "ten_2")
		viewer.Role = domain.RoleViewer
		zed := admin("adm_z", "")
		zed.Name = "zed"
		errs = append(errs, tx.PutAdmin(ctx, admin("adm_root", "")), tx.PutAdmin(ctx, zed), tx.PutAdmin(ctx, admin("adm_g", "ten_2")),
			tx.PutAdmin(ctx, admin("adm_a", "ten_1")), tx.PutAdmin(ctx, viewer))
		return errors.Join(errs...)
	})
	d, err := s.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	got := sortedByID(d.Subscriptions, func(v domain.Subscription) string { return v.ID })
	same(t, "current subscriptions", ids(got, func(v domain.Subscription) string { return v.ID }), []string{"sub_2", "sub_4", "sub_7", "sub_8"})
	same(t, "sub_4 round-trips through Load", got[1], all[3])
	same(t, "approvers", d.Approvers, map[string][]string{
		"":      {"admin adm_root", "zed"},
		"ten_1": {"admin adm_a"},
		"ten_2": {"admin adm_g"},
	})
}

func testCurrentSubscriptions(t *testing.T, _ store.Store) {
	mk := func(id, state string, updated time.Duration) domain.Subscription {
		v := subscription(id, "con_1", "svc_1", state)
		v.UpdatedAt = at(updated)
		return v
	}
	cases := []struct {
		desc string
		in   []domain.Subscription
		want []string
	}{
		{"nothing", nil, []string{}},
		{"one of each pair kept, input order kept", []domain.Subscription{
			subscription("sub_b", "con_2", "svc_1", domain.SubscriptionPending), subscription("sub_a", "con_1", "svc_1", domain.SubscriptionPending)},
			[]string{"sub_b", "sub_a"}},
		{"approved beats a later revoked", []domain.Subscription{mk("sub_1", domain.SubscriptionApproved, 0), mk("sub_2", domain.SubscriptionRevoked, time.Hour)}, []string{"sub_1"}},
		{"later closed beats earlier closed", []domain.Subscription{mk("sub_2", domain.SubscriptionRevoked, time.Hour), mk("sub_1", domain.SubscriptionRejected, 2*time.Hour)}, []string{"sub_1"}},
		{"same time: larger id", []domain.Subscription{mk("sub_2", domain.SubscriptionRevoked, 0), mk("sub_1", domain.SubscriptionRejected, 0)}, []string{"sub_2"}},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			same(t, "ids", ids(store.CurrentSubscriptions(c.in), func(v domain.Subscription) string { return v.ID }), c.want)
		})
	}
}

func testDeleteServiceWithSubscriptions(t *testing.T, s store.Store) {
	seedAccess(t, s)
	update(t, s, func(ctx context.Context, tx store.Tx) error {
		return errors.Join(
			tx.PutSubscription(ctx, subscription("sub_1", "con_1", "svc_1", domain.SubscriptionApproved)),
			tx.PutSubscription(ctx, subscription("sub_2", "con_2", "svc_1", domain.SubscriptionRejected)),
			tx.PutSubscription(ctx, subscription("sub_3", "con_1", "svc_2", domain.SubscriptionRevoked)))
	})
	t.Run("an open subscription refuses the delete", func(t *testing.T) {
		err := s.Update(t.Context(), func(tx store.Tx) error { return tx.DeleteService(t.Context(), "svc_1") })
		wantErr(t, "DeleteService", err, store.ErrConflict, "svc_1", "1 open subscription")
	})
	t.Run("closed subscriptions go with the service", func(t *testing.T) {
		update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.DeleteService(ctx, "svc_2") })
		_, err := getSubscription(t, s, "sub_3")
		wantErr(t, "closed subscription of the deleted service", err, store.ErrNotFound)
		if _, err := getSubscription(t, s, "sub_2"); err != nil {
			t.Errorf("another service's subscription went too: %v", err)
		}
	})
}

func testRouteRateLimit(t *testing.T, s store.Store) {
	seed(t, s)
	cases := []struct {
		desc  string
		limit *domain.RateLimit
	}{
		{"no limit stays nil", nil},
		{"every field", &domain.RateLimit{Limit: 100, Period: domain.Duration(time.Minute), By: domain.LimitByRoute}},
		{"by left empty", &domain.RateLimit{Limit: 1, Period: domain.Duration(1500 * time.Millisecond)}},
	}
	for i, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			r := route(fmt.Sprintf("rte_%d", i), "svc_1")
			r.RateLimit = c.limit
			update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutRoute(ctx, r) })
			view(t, s, func(ctx context.Context, tx store.Tx) error {
				got, err := tx.GetRoute(ctx, r.ID)
				same(t, "GetRoute", got, r)
				return err
			})
		})
	}
	t.Run("an update removes the limit", func(t *testing.T) {
		r := route("rte_1", "svc_1")
		update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutRoute(ctx, r) })
		d, err := s.Load(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, got := range d.Routes {
			if got.ID == "rte_1" && got.RateLimit != nil {
				t.Errorf("rate limit kept after an update without one: %+v", got.RateLimit)
			}
		}
	})
}

// testRouteCORS round-trips a route's CORS policy through PutRoute,
// GetRoute, ListRoutes and Load, and checks an update without one clears
// it (the column is NULL again, not an empty policy that would allow
// nothing and still answer CORS).
func testRouteCORS(t *testing.T, s store.Store) {
	seed(t, s)
	cases := []struct {
		desc string
		cors *domain.CORS
	}{
		{"no CORS stays nil", nil},
		{"every field", &domain.CORS{
			AllowedOrigins: []string{"https://app.example.com", "https://*.example.org", "http://localhost:3000"},
			AllowedMethods: []string{"GET", "POST"}, AllowedHeaders: []string{"content-type", "x-trace"},
			ExposedHeaders: []string{"x-request-id", "ratelimit"}, AllowCredentials: true,
			MaxAge: domain.Duration(10 * time.Minute)}},
		{"any origin, nothing else", &domain.CORS{AllowedOrigins: []string{"*"}}},
	}
	for i, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			r := route(fmt.Sprintf("rte_cors_%d", i), "svc_1")
			r.CORS = c.cors
			update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutRoute(ctx, r) })
			view(t, s, func(ctx context.Context, tx store.Tx) error {
				got, err := tx.GetRoute(ctx, r.ID)
				same(t, "GetRoute", got, r)
				return err
			})
			items, _, err := s.ListRoutes(t.Context(), store.ListFilter{ServiceID: "svc_1", Page: store.Page{Limit: 100}})
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, got := range items {
				if got.ID == r.ID {
					found = true
					same(t, "ListRoutes", got, r)
				}
			}
			if !found {
				t.Errorf("ListRoutes: %s missing", r.ID)
			}
			d, err := s.Load(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			for _, got := range d.Routes {
				if got.ID == r.ID {
					same(t, "Load", got, r)
				}
			}
		})
	}
	t.Run("an update without CORS removes it", func(t *testing.T) {
		r := route("rte_cors_1", "svc_1")
		update(t, s, func(ctx context.Context, tx store.Tx) error { return tx.PutRoute(ctx, r) })
		view(t, s, func(ctx context.Context, tx store.Tx) error {
			got, err := tx.GetRoute(ctx, r.ID)
			if err == nil && got.CORS != nil {
				t.Errorf("CORS kept after an update without it: %+v", got.CORS)
			}
			return err
		})
	})
}

func testAuditOtherTenant(t *testing.T, s store.Store) {
	entries := []domain.AuditEntry{
		{At: t0, Actor: "a", Action: "subscription.request", Resource: "subscription", ResourceID: "sub_1",
			TenantID: "ten_2", OtherTenantID: "ten_1", After: json.RawMessage(`{"state":"pending"}`)},
		{At: t0, Actor: "a", Action: "consumer.create", Resource: "consumer", ResourceID: "con_1", TenantID: "ten_1"},
		{At: t0, Actor: "a", Action: "service.create", Resource: "service", ResourceID: "svc_9", TenantID: "ten_3"},
	}
	update(t, s, func(ctx context.Context, tx store.Tx) error {
		return errors.Join(tx.Audit(ctx, entries[0]), tx.Audit(ctx, entries[1]), tx.Audit(ctx, entries[2]))
	})
	cases := []struct {
		desc, tenant string
		want         []string
	}{
		{"the entry's tenant", "ten_2", []string{"subscription.request"}},
		{"the other tenant sees it too", "ten_1", []string{"consumer.create", "subscription.request"}},
		{"an unrelated tenant does not", "ten_3", []string{"service.create"}},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			got, _, err := s.ListAudit(t.Context(), store.ListFilter{TenantID: c.tenant})
			if err != nil {
				t.Fatal(err)
			}
			same(t, "actions", ids(got, func(e domain.AuditEntry) string { return e.Action }), c.want)
			for _, e := range got {
				if e.Action == "subscription.request" {
					want := entries[0]
					want.ID = e.ID
					same(t, "entry", e, want)
				}
			}
		})
	}
}
