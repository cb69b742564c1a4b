package cli

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"gatehouse/internal/analytics"
	"gatehouse/internal/domain"
)

func TestSparkline(t *testing.T) {
	pt := func(req, errs int64) analytics.Point { return analytics.Point{Requests: req, Errors: errs} }
	cases := []struct {
		desc   string
		series []analytics.Point
		width  int
		want   string
		peak   float64
	}{
		{"no points", nil, 10, "", 0},
		{"no errors is the lowest block, no calls a dot", []analytics.Point{pt(5, 0), pt(0, 0), pt(3, 0)}, 10, "▁·▁", 0},
		{"levels are relative to the peak; any error shows above ▁",
			[]analytics.Point{pt(100, 0), pt(100, 1), pt(100, 25), pt(100, 50), pt(100, 100)}, 10, "▁▂▃▅█", 1},
		{"a series wider than the width is merged column by column (2 points each)",
			[]analytics.Point{pt(10, 10), pt(10, 0), pt(10, 0), pt(10, 0), pt(0, 0), pt(0, 0), pt(4, 4)}, 4, "▅▁·█", 1},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			got, peak, _ := sparkline(tc.series, tc.width)
			if got != tc.want || peak != tc.peak {
				t.Errorf("sparkline = %q (peak %v), want %q (peak %v)", got, peak, tc.want, tc.peak)
			}
		})
	}
}

// goldenReport is a fixed report covering every part of the output.
func goldenReport() analytics.Report {
	since := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	rep := analytics.Report{Since: since, Until: since.Add(time.Hour), GroupBy: "minute",
		Totals: analytics.Totals{Requests: 1234, Errors: 321, ErrorRate: 0.260130, ByClass: map[string]int64{"2xx": 900, "3xx": 13, "4xx": 300, "5xx": 21},
			BytesIn: 52_000, BytesOut: 7_340_032,
			Latency: analytics.Latency{MeanMicros: 4_210, P50Micros: 1_750, P95Micros: 28_400, P99Micros: 142_000, MaxMicros: 2_400_000}},
		TopReasons: []analytics.ReasonCount{{Code: "jwt.expired", Count: 200, Share: 0.623053}, {Code: "key.revoked", Count: 80, Share: 0.249221},
			{Code: "rate.exceeded", Count: 20, Share: 0.062305}},
		TopFailingConsumers: []analytics.ConsumerCount{
			{Consumer: "con_shopMobile0001", Tenant: "ten_acme000000001", Failures: 210, Requests: 400, ErrorRate: 0.525, TopReason: "jwt.expired"},
			{Consumer: "con_web00000000001", Tenant: "ten_beta000000001", Failures: 90, Requests: 700, ErrorRate: 0.128571, TopReason: "key.revoked"},
			{Consumer: "con_batch000000001", Tenant: "ten_beta000000001", Failures: 21, Requests: 134, ErrorRate: 0.156716}},
		TopModels: []analytics.ModelCount{{Model: "gpt-4o-mini", Requests: 300, Errors: 12, ErrorRate: 0.04, CostMicros: 1_234_567},
			{Model: "embed-small", Requests: 40, CostMicros: 8}},
	}
	for i := range 60 {
		p := analytics.Point{Time: since.Add(time.Duration(i) * time.Minute), Requests: 20}
		switch {
		case i >= 20 && i < 30: // an incident
			p.Errors = int64(2 * (i - 19))
		case i == 45:
			p.Requests = 0
		case i%7 == 0:
			p.Errors = 1
		}
		rep.Series = append(rep.Series, p)
	}
	return rep
}

func TestRenderStatsGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := renderStats(&buf, goldenReport()); err != nil {
		t.Fatal(err)
	}
	golden(t, "stats_report.golden", buf.Bytes())
	// The golden file itself must show what matters, so a careless -update
	// cannot bless a regression.
	for _, want := range []string{"Requests:  1234   errors 321 (26.0%)   2xx 900 · 3xx 13 · 4xx 300 · 5xx 21",
		"p50 1.8ms   p95 28.4ms   p99 142.0ms", "Error rate  ▂▁", "█", "·", "peak 100.0% at 11-20 09:29", "09:00", "09:59",
		"jwt.expired", "62.3%", "con_shopMobile0001", "52.5%", "–", "AI models", "gpt-4o-mini", "1.234567", "0.000008"} {
		if !bytes.Contains(buf.Bytes(), []byte(want)) {
			t.Errorf("output lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestStatsCommand(t *testing.T) {
	e := newTestEnv(t)
	e.check(t, []cliCase{{desc: "setup", args: []string{"tenant", "create", "--slug", "acme"}},
		{desc: "setup", args: []string{"consumer", "create", "--tenant", "acme", "--name", "shop"}}})
	var cons []domain.Consumer
	e.mustJSON(&struct {
		Items *[]domain.Consumer `json:"items"`
	}{&cons}, "consumer", "list")
	var calls []domain.Call
	for i := range 120 {
		c := domain.Call{RequestID: fmt.Sprint("r", i), Time: t0.Add(-time.Duration(i+1) * time.Minute), TenantID: cons[0].TenantID,
			ConsumerID: cons[0].ID, Status: 200, LatencyMicros: 1500}
		if i%10 == 0 {
			c.Status, c.Code = 401, "jwt.expired"
		}
		calls = append(calls, c)
	}
	agg := analytics.NewAggregator(e.store, analytics.Options{NoBackground: true})
	agg.Add(calls)
	if err := agg.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.check(t, []cliCase{
		{desc: "the default range is 24h, grouped by minute to fit", args: []string{"stats"},
			out: []string{"Calls from 2026-11-19 10:00 to 2026-11-20 10:00 UTC, by minute", "Requests:  120   errors 12 (10.0%)",
				"Error rate  ", "peak 12.5% at 11-20 08:48", "11-19 10:00", "jwt.expired", "12", cons[0].ID, cons[0].TenantID}},
		{desc: "--since and --group-by", args: []string{"stats", "--since", "1h", "--group-by", "minute", "--top", "1"},
			outFunc: func(t *testing.T, out string) {
				var line string
				for _, l := range bytes.Split([]byte(out), []byte("\n")) {
					if bytes.HasPrefix(l, []byte("Error rate")) {
						line = string(l)
					}
				}
				// 60 minutes, one error every 10: six full blocks.
				if n := bytes.Count([]byte(line), []byte("█")); n != 6 {
					t.Errorf("error-rate line %q has %d full blocks, want 6", line, n)
				}
			}},
		{desc: "-o json is the API's report", args: []string{"stats", "-o", "json"},
			out: []string{`"totals"`, `"requests": 120`, `"top_reasons"`, `"series"`}},
		{desc: "a bad --since", args: []string{"stats", "--since", "yesterday"}, fail: true, errOut: []string{"--since"}},
		{desc: "the API's refusal is shown", args: []string{"stats", "--group-by", "week"}, fail: true,
			errOut: []string{"group_by \"week\" must be minute, hour or day"}},
	})
}

func TestAlertCommands(t *testing.T) {
	e := newTestEnv(t)
	e.check(t, []cliCase{
		{desc: "no rules yet", args: []string{"alert", "rules"}, out: []string{"No alert rules found."}},
		{desc: "create a threshold rule", args: []string{"alert", "create", "--name", "jwt storm", "--kind", "threshold",
			"--reason", "jwt.expired", "--threshold", "10"},
			out: []string{"Created alert rule jwt storm (alr_", "more than 10 jwt.expired per 1m0s for one consumer", "10m0s", "(the whole gateway)"}},
		{desc: "durations in days", args: []string{"alert", "create", "--name", "expiring", "--kind", "key_expiring", "--within", "3d", "--cooldown", "1d"},
			out: []string{"expires within 72h0m0s", "24h0m0s"}},
		{desc: "an invalid rule is the API's 400", args: []string{"alert", "create", "--name", "x", "--kind", "threshold"}, fail: true,
			errOut: []string{"threshold must be 1 or more"}},
		{desc: "missing --kind", args: []string{"alert", "create", "--name", "x"}, fail: true, errOut: []string{"missing required flag --kind"}},
		{desc: "rules is a table", args: []string{"alert", "rules"}, out: []string{"NAME", "KIND", "jwt storm", "threshold", "expiring", "(gateway)"}},
		{desc: "no fired alerts", args: []string{"alert", "list"}, out: []string{"No alerts found."}},
	})
	if err := e.store.InsertAlert(context.Background(), domain.Alert{ID: "evt_1", RuleID: "alr_x", RuleName: "jwt storm", Kind: domain.AlertThreshold,
		Subject: "consumer con_1", Message: "11 jwt.expired calls within 1m0s for consumer con_1 (threshold 10)", FiredAt: t0.Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	var rules struct {
		Items []domain.AlertRule `json:"items"`
	}
	e.mustJSON(&rules, "alert", "rules")
	e.check(t, []cliCase{
		{desc: "fired alerts", args: []string{"alert", "list", "--since", "1h"},
			out: []string{"FIRED", "1m ago", "jwt storm", "consumer con_1", "11 jwt.expired calls"}},
		{desc: "delete a rule", args: []string{"alert", "delete", rules.Items[0].ID}, out: []string{"Alert rule " + rules.Items[0].ID + " deleted."}},
		{desc: "an unknown verb", args: []string{"alert", "frob"}, fail: true, errOut: []string{"(verbs: create, delete, list, rules)"}},
	})
}
