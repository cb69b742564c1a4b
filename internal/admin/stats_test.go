package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/analytics"
	"gatehouse/internal/domain"
)

// statsEnv is two tenants with traffic rolled up by the real aggregator
// into the real store: acme's consumer 10 passes and 5 jwt.expired, beta's
// 3 passes and 7 key.revoked, plus 2 unidentified key.unknown calls
// (tenant-less) — all within the last hour.
func statsEnv(t *testing.T) (*testEnv, fixture, fixture) {
	e := newEnv(t)
	acme, beta := e.fixture("acme"), e.fixture("beta")
	var calls []domain.Call
	add := func(n int, f fixture, status int, code string, ago time.Duration) {
		for i := range n {
			c := domain.Call{RequestID: fmt.Sprint(f.slug, code, ago, i), Time: t0.Add(-ago).Add(time.Duration(i) * time.Second),
				RouteID: f.routeID, Status: status, Code: code, LatencyMicros: 2000, CredentialType: domain.AuthAPIKey}
			if f.tenantID != "" {
				c.TenantID, c.ConsumerID = f.tenantID, f.consumerID
			}
			calls = append(calls, c)
		}
	}
	add(10, acme, 200, "", 50*time.Minute)
	add(5, acme, 401, "jwt.expired", 10*time.Minute)
	add(3, beta, 200, "", 40*time.Minute)
	add(7, beta, 401, "key.revoked", 20*time.Minute)
	add(2, fixture{slug: "anon"}, 401, "key.unknown", 5*time.Minute)
	add(4, acme, 200, "", 2*time.Hour) // before the default hour
	agg := analytics.NewAggregator(e.store, analytics.Options{NoBackground: true})
	agg.Add(calls)
	if err := agg.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	return e, acme, beta
}

func decodeReport(t *testing.T, r resp) analytics.Report {
	t.Helper()
	if r.Status != 200 {
		t.Fatalf("status %d: %s", r.Status, r.Body)
	}
	var rep analytics.Report
	if err := json.Unmarshal(r.Body, &rep); err != nil {
		t.Fatalf("not a report: %v: %s", err, r.Body)
	}
	return rep
}

func TestStats(t *testing.T) {
	e, acme, beta := statsEnv(t)
	_, acmeAdmin := e.newAdmin("acme-ops", domain.RoleTenantAdmin, "acme")
	_, viewer := e.newAdmin("watcher", domain.RoleViewer, "")
	type want struct {
		requests, errors int64
		reasons          []string
		failing          []string
		points           int
	}
	cases := []struct {
		desc  string
		token string
		query string
		want  want
	}{
		{"root admin, default last hour by minute", e.root, "",
			want{27, 14, []string{"key.revoked", "jwt.expired", "key.unknown"}, []string{beta.consumerID, acme.consumerID}, 60}},
		{"an unbound viewer reads everything too", viewer, "",
			want{27, 14, []string{"key.revoked", "jwt.expired", "key.unknown"}, []string{beta.consumerID, acme.consumerID}, 60}},
		{"filtered to a tenant by slug", e.root, "tenant=beta", want{10, 7, []string{"key.revoked"}, []string{beta.consumerID}, 60}},
		{"filtered to a consumer by tenant-slug/name", e.root, "consumer=acme/app", want{15, 5, []string{"jwt.expired"}, []string{acme.consumerID}, 60}},
		{"a tenant-admin sees only its tenant", acmeAdmin, "", want{15, 5, []string{"jwt.expired"}, []string{acme.consumerID}, 60}},
		{"a longer range by hour includes the older calls", e.root, "since=3h&group_by=hour",
			want{31, 14, []string{"key.revoked", "jwt.expired", "key.unknown"}, []string{beta.consumerID, acme.consumerID}, 3}},
		{"top cuts the lists", e.root, "top=1", want{27, 14, []string{"key.revoked"}, []string{beta.consumerID}, 60}},
		{"until bounds the range", e.root, "since=1h&until=30m", want{13, 0, nil, nil, 30}},
		{"a route filter", e.root, "route=" + beta.routeID, want{10, 7, []string{"key.revoked"}, []string{beta.consumerID}, 60}},
		{"a reason filter keeps only that reason's calls", e.root, "reason=jwt.expired", want{5, 5, []string{"jwt.expired"}, []string{acme.consumerID}, 60}},
		{"a reason filter within a tenant-admin's scope", acmeAdmin, "reason=key.revoked", want{0, 0, nil, nil, 60}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			rep := decodeReport(t, e.do(tc.token, "GET", "/admin/v1/stats?"+tc.query, nil))
			var reasons, failing []string
			for _, r := range rep.TopReasons {
				reasons = append(reasons, r.Code)
			}
			for _, c := range rep.TopFailingConsumers {
				failing = append(failing, c.Consumer)
			}
			got := want{rep.Totals.Requests, rep.Totals.Errors, reasons, failing, len(rep.Series)}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			if rep.Totals.Requests > 0 && rep.Totals.Latency.P50Micros == 0 {
				t.Errorf("no latency quantiles: %+v", rep.Totals.Latency)
			}
		})
	}

	refusals := []struct {
		desc, token, query string
		status             int
		code               string
	}{
		{"a tenant-admin asking for another tenant", acmeAdmin, "tenant=beta", 403, CodeForbidden},
		{"a tenant-admin asking for another tenant's consumer", acmeAdmin, "consumer=" + beta.consumerID, 403, CodeForbidden},
		{"an unknown group_by", e.root, "group_by=week", 400, CodeInvalid},
		{"too many points", e.root, "since=3d&group_by=minute", 400, CodeInvalid},
		{"top out of range", e.root, "top=0", 400, CodeInvalid},
		{"since not a time", e.root, "since=yesterday", 400, CodeInvalid},
		{"until before since", e.root, "since=1h&until=2h", 400, CodeInvalid},
		{"an unknown parameter", e.root, "consumr=x", 400, CodeInvalid},
		{"a reason that is not a code", e.root, "reason=key.revokd", 400, CodeInvalid},
		{"an unknown series_by", e.root, "series_by=reason,route", 400, CodeInvalid},
		{"no token", "", "", 401, CodeUnauthorized},
	}
	for _, tc := range refusals {
		t.Run(tc.desc, func(t *testing.T) {
			problemOf(t, e.do(tc.token, "GET", "/admin/v1/stats?"+tc.query, nil), tc.status, tc.code)
		})
	}
	t.Run("a refusal is audited under the tenant-admin's tenant", func(t *testing.T) {
		found := false
		for _, a := range e.auditAll() {
			if a["action"] == "stats.get.denied" && a["tenant"] == acme.tenantID {
				found = true
			}
		}
		if !found {
			t.Error("no stats.get.denied audit entry")
		}
	})
	t.Run("the series error rate shows when the failures happened", func(t *testing.T) {
		rep := decodeReport(t, e.do(e.root, "GET", "/admin/v1/stats?"+url.Values{"tenant": {"acme"}}.Encode(), nil))
		var failingMinutes int
		for _, p := range rep.Series {
			if p.ErrorRate == 1 {
				failingMinutes++
			}
		}
		if failingMinutes != 1 { // the 5 jwt.expired, one per second, 10 minutes ago
			t.Errorf("%d minutes at 100%% errors, want 1: %+v", failingMinutes, rep.Series)
		}
	})
	t.Run("series_by draws each top reason and failing consumer over time from the same rows", func(t *testing.T) {
		r := e.do(e.root, "GET", "/admin/v1/stats?series_by=reason,consumer", nil)
		if r.Status != 200 {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		var rep statsReport
		if err := json.Unmarshal(r.Body, &rep); err != nil {
			t.Fatal(err)
		}
		type line struct {
			key      string
			total    int64
			nonzero  int
			atMinute int64 // the value at the minute the calls were made
		}
		summary := func(ks []keyedSeries, at time.Time) []line {
			var out []line
			for _, k := range ks {
				if len(k.Values) != len(rep.Series) {
					t.Fatalf("%s: %d values for %d points", k.Key, len(k.Values), len(rep.Series))
				}
				l := line{key: k.Key}
				for i, v := range k.Values {
					l.total += v
					if v != 0 {
						l.nonzero++
					}
					if rep.Series[i].Time.Equal(at) {
						l.atMinute = v
					}
				}
				out = append(out, l)
			}
			return out
		}
		minuteOf := func(ago time.Duration) time.Time { return t0.Add(-ago).Truncate(time.Minute) }
		reasons := summary(rep.ReasonSeries, minuteOf(20*time.Minute))
		wantReasons := []line{{"key.revoked", 7, 1, 7}, {"jwt.expired", 5, 1, 0}, {"key.unknown", 2, 1, 0}}
		if fmt.Sprint(reasons) != fmt.Sprint(wantReasons) {
			t.Errorf("reason series %+v, want %+v", reasons, wantReasons)
		}
		cons := summary(rep.ConsumerSeries, minuteOf(10*time.Minute))
		wantCons := []line{{beta.consumerID, 7, 1, 0}, {acme.consumerID, 5, 1, 5}}
		if fmt.Sprint(cons) != fmt.Sprint(wantCons) {
			t.Errorf("consumer series %+v, want %+v", cons, wantCons)
		}
		plain := e.do(e.root, "GET", "/admin/v1/stats", nil)
		if bytes.Contains(plain.Body, []byte("reason_series")) || bytes.Contains(plain.Body, []byte("consumer_series")) {
			t.Errorf("series without series_by: %s", plain.Body)
		}
	})
}

// TestStatsCost: the AI cost recorded on call records reaches the rollups
// (aggregator and store) and /stats sums it exactly, in total and per
// point with series_by=cost, per consumer or tenant.
func TestStatsCost(t *testing.T) {
	e := newEnv(t)
	acme, beta := e.fixture("acme"), e.fixture("beta")
	var calls []domain.Call
	add := func(f fixture, ago time.Duration, cost int64) {
		calls = append(calls, domain.Call{RequestID: fmt.Sprint("ai", len(calls)), Time: t0.Add(-ago), TenantID: f.tenantID,
			ConsumerID: f.consumerID, RouteID: f.routeID, Status: 200, LatencyMicros: 900, CredentialType: domain.AuthAPIKey,
			AI: &domain.CallAI{Model: "gpt-4o-mini", PromptTokens: 10, CompletionTokens: 20, CostMicros: cost}})
	}
	add(acme, 5*time.Hour+time.Minute, 1_000_001) // 05:00 hour before t0
	add(acme, 5*time.Hour+2*time.Minute, 250)
	add(acme, 30*time.Minute, 3)
	add(beta, 30*time.Minute, 7_000_000)
	calls = append(calls, domain.Call{RequestID: "plain", Time: t0.Add(-time.Minute), TenantID: acme.tenantID, ConsumerID: acme.consumerID, Status: 200})
	agg := analytics.NewAggregator(e.store, analytics.Options{NoBackground: true})
	agg.Add(calls)
	if err := agg.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		desc, query string
		total       string
		nonzero     map[int]string // point index → cost
	}{
		{"one consumer by hour", "consumer=acme/app&since=6h&group_by=hour&series_by=cost", "1.000254", map[int]string{0: "1.000251", 5: "0.000003"}},
		{"a tenant", "tenant=beta&since=6h&group_by=hour&series_by=cost", "7", map[int]string{5: "7"}},
		{"everything, no series asked", "since=6h", "8.000254", nil},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			r := e.do(e.root, "GET", "/admin/v1/stats?"+tc.query, nil)
			if r.Status != 200 {
				t.Fatalf("%d %s", r.Status, r.Body)
			}
			var rep statsReport
			if err := json.Unmarshal(r.Body, &rep); err != nil {
				t.Fatal(err)
			}
			if rep.Cost.String() != tc.total {
				t.Errorf("cost %s, want %s", rep.Cost, tc.total)
			}
			got := map[int]string{}
			for i, c := range rep.CostSeries {
				if c != 0 {
					got[i] = c.String()
				}
			}
			if tc.nonzero == nil && rep.CostSeries != nil {
				t.Errorf("cost_series without series_by=cost: %v", rep.CostSeries)
			}
			if tc.nonzero != nil && fmt.Sprint(got) != fmt.Sprint(tc.nonzero) {
				t.Errorf("cost per point %v, want %v", got, tc.nonzero)
			}
		})
	}
}

// TestStatsByModel: §12's rollups are by AI model too — /stats lists the
// models called (the name clients ask for) with their calls, failures and
// cost, filters by one (model=) and draws one series per model
// (series_by=model). A name the catalogue does not hold is the caller's
// and makes no model of its own.
func TestStatsByModel(t *testing.T) {
	e := newEnv(t)
	acme := e.fixture("acme")
	var calls []domain.Call
	add := func(alias, code string, status int, cost int64) {
		c := domain.Call{RequestID: fmt.Sprint("m", len(calls)), Time: t0.Add(-10 * time.Minute), TenantID: acme.tenantID,
			ConsumerID: acme.consumerID, RouteID: acme.routeID, Status: status, Code: code, LatencyMicros: 900, CredentialType: domain.AuthAPIKey}
		if alias != "" {
			c.AI = &domain.CallAI{Alias: alias, Model: alias + "-upstream", CostMicros: cost}
		}
		calls = append(calls, c)
	}
	add("chat", "", 200, 5)
	add("chat", "", 200, 7)
	add("chat", "budget.exceeded", 429, 0)
	add("embed", "", 200, 1)
	add("made-up-by-the-caller", "ai.model_unknown", 404, 0)
	add("", "", 200, 0)
	agg := analytics.NewAggregator(e.store, analytics.Options{NoBackground: true})
	agg.Add(calls)
	if err := agg.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	get := func(query string) statsReport {
		t.Helper()
		r := e.do(e.root, "GET", "/admin/v1/stats?"+query, nil)
		if r.Status != 200 {
			t.Fatalf("%s: %d %s", query, r.Status, r.Body)
		}
		var rep statsReport
		if err := json.Unmarshal(r.Body, &rep); err != nil {
			t.Fatal(err)
		}
		return rep
	}

	rep := get("since=1h&group_by=minute&series_by=model")
	want := []analytics.ModelCount{
		{Model: "chat", Requests: 3, Errors: 1, ErrorRate: 0.333333, CostMicros: 12},
		{Model: "embed", Requests: 1, CostMicros: 1},
	}
	if !reflect.DeepEqual(rep.TopModels, want) {
		t.Errorf("top_models %+v, want %+v", rep.TopModels, want)
	}
	if rep.Totals.Requests != 6 {
		t.Errorf("requests %d, want all 6 calls", rep.Totals.Requests)
	}
	if len(rep.ModelSeries) != 2 || rep.ModelSeries[0].Key != "chat" || rep.ModelSeries[1].Key != "embed" {
		t.Fatalf("model_series %+v, want chat then embed", rep.ModelSeries)
	}
	var chat int64
	for _, v := range rep.ModelSeries[0].Values {
		chat += v
	}
	if chat != 3 {
		t.Errorf("chat's series sums to %d, want 3", chat)
	}

	one := get("since=1h&model=chat")
	if one.Totals.Requests != 3 || one.Totals.Errors != 1 || one.Cost.String() != "0.000012" {
		t.Errorf("model=chat: requests %d errors %d cost %s; want 3, 1, 0.000012", one.Totals.Requests, one.Totals.Errors, one.Cost)
	}
	if r := e.do(e.root, "GET", "/admin/v1/stats?series_by=models", nil); r.Status != 400 || !strings.Contains(string(r.Body), "reason, consumer, model or cost") {
		t.Errorf("series_by=models: %d %s", r.Status, r.Body)
	}
}
