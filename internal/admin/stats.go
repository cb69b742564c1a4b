package admin

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gatehouse/internal/analytics"
	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

// Bounds of GET /admin/v1/stats.
const (
	statsDefaultSince = time.Hour
	statsDefaultTop   = 10
	statsMaxTop       = 100
	// statsMaxPoints bounds the series (a day by minute is 1 440 points).
	statsMaxPoints = 1500
	// statsMaxRows bounds the rollup rows one report reads (~30 MB); past
	// it the report says truncated.
	statsMaxRows = 100_000
)

var pStatsQuery = []param{
	{Name: "since", Type: "string", Description: "RFC 3339 time, or a duration before now (default 1h)"},
	{Name: "until", Type: "string", Description: "RFC 3339 time, or a duration before now (default now)"},
	{Name: "tenant", Type: "string", Description: "tenant id or slug (tenant-bound admins: always their own)"},
	pConsumer,
	{Name: "route", Type: "string", Description: "route id"},
	{Name: "reason", Type: "string", Description: "reason code, e.g. key.revoked: only the calls rejected with it"},
	{Name: "model", Type: "string", Description: "AI model, by the name clients ask for: only the calls to it"},
	{Name: "series_by", Type: "string", Description: "comma-separated: reason, consumer, model, cost — add a series per top reason (reason_series), per top failing consumer (consumer_series), per top AI model (model_series) and the AI spend per point (cost_series), from the same rollups"},
	{Name: "group_by", Type: "string", Description: "series step: minute, hour or day (default: the finest giving at most 1500 points)"},
	{Name: "top", Type: "integer", Description: "entries in each top list, 1-100 (default 10)"},
}

// analyticsStore is the store's analytics side; every store of this
// repository has one, but the interface is separate (store.Analytics).
func (rc *reqCtx) analyticsStore() (store.Analytics, error) {
	an, ok := rc.api.cfg.Store.(store.Analytics)
	if !ok {
		return nil, internal(fmt.Errorf("%T does not implement store.Analytics", rc.api.cfg.Store),
			"this gateway's store keeps no analytics: stats and alerts are unavailable")
	}
	return an, nil
}

// statsReport is the answer of GET /admin/v1/stats: the analytics report
// and, when series_by asks for them, a series per top reason and per top
// failing consumer. Those come from the rollup rows the report is computed
// from — one store query whatever the number of lines — so a chart of
// "reasons over time" costs no more than the report itself (it used to
// take one query per line, or a scan of the raw call log).
type statsReport struct {
	analytics.Report
	// ReasonSeries has one entry per TopReasons code, in that order:
	// the calls rejected with it per point of Series.
	ReasonSeries []keyedSeries `json:"reason_series,omitempty"`
	// ConsumerSeries has one entry per TopFailingConsumers consumer, in
	// that order: its failed calls (status 400 or above) per point.
	ConsumerSeries []keyedSeries `json:"consumer_series,omitempty"`
	// ModelSeries has one entry per TopModels model, in that order: its
	// calls per point.
	ModelSeries []keyedSeries `json:"model_series,omitempty"`
	// Cost is the exact AI spend of the range (decimal currency units),
	// CostSeries (series_by=cost) the spend per point of Series.
	Cost       domain.Micros   `json:"cost"`
	CostSeries []domain.Micros `json:"cost_series,omitempty"`
}

// keyedSeries is one line of a breakdown: Values[i] belongs to
// Series[i].Time.
type keyedSeries struct {
	Key    string  `json:"key"`
	Values []int64 `json:"values"`
}

// stats answers GET /admin/v1/stats from the per-minute rollups: totals,
// the error rate over time, top reasons, top failing consumers and top AI
// models, and on request the top reasons, consumers and models over time.
func (a *API) stats(rc *reqCtx) (any, error) {
	if a.cfg.RollupsOff {
		return nil, conflict("rollups are off on this gateway (analytics.enabled: false in its configuration), so there are no statistics to report; " +
			"call records are still kept (GET " + basePath + "/calls); set analytics.enabled: true and restart to compute rollups again")
	}
	an, err := rc.analyticsStore()
	if err != nil {
		return nil, err
	}
	since, until := rc.now.Add(-statsDefaultSince), rc.now
	if s := rc.query("since"); s != "" {
		if since, err = parseInstant("since", s, rc.now); err != nil {
			return nil, err
		}
	}
	if s := rc.query("until"); s != "" {
		if until, err = parseInstant("until", s, rc.now); err != nil {
			return nil, err
		}
	}
	if !until.After(since) {
		return nil, invalid("until (%s) must be after since (%s)", until.Format(time.RFC3339), since.Format(time.RFC3339))
	}
	group := rc.query("group_by")
	if group == "" {
		group = analytics.AutoGroup(since, until, statsMaxPoints)
	}
	step, ok := analytics.GroupStep(group)
	if !ok {
		return nil, invalid("group_by %q must be minute, hour or day", group)
	}
	if n := analytics.Points(since, until, step); n > statsMaxPoints {
		return nil, invalid("since..until by %s is %d points; at most %d: group by a longer step (hour, day) or narrow the range", group, n, statsMaxPoints)
	}
	top := statsDefaultTop
	if s := rc.query("top"); s != "" {
		if top, err = strconv.Atoi(s); err != nil || top < 1 || top > statsMaxTop {
			return nil, invalid("top %q must be a whole number from 1 to %d", s, statsMaxTop)
		}
	}
	var byReason, byConsumer, byModel, byCost bool
	if s := rc.query("series_by"); s != "" {
		for _, b := range strings.Split(s, ",") {
			switch strings.TrimSpace(b) {
			case "reason":
				byReason = true
			case "consumer":
				byConsumer = true
			case "model":
				byModel = true
			case "cost":
				byCost = true
			default:
				return nil, invalid("series_by %q: each entry must be reason, consumer, model or cost", s)
			}
		}
	}
	f := store.RollupFilter{Since: since.Truncate(time.Minute), Until: until, Step: step, TenantID: rc.scope(),
		RouteID: rc.query("route"), Model: rc.query("model"), Limit: statsMaxRows + 1}
	if f.Code, err = rc.reasonFilter(); err != nil {
		return nil, err
	}
	if f.TenantID, err = rc.tenantFilter(); err != nil {
		return nil, err
	}
	if f.ConsumerID, err = rc.consumerFilter(); err != nil {
		return nil, err
	}
	rows, err := an.QueryRollups(rc.ctx, f)
	if err != nil {
		return nil, storeError(err)
	}
	truncated := len(rows) > statsMaxRows
	if truncated {
		rows = rows[:statsMaxRows]
	}
	out := statsReport{Report: analytics.Compute(rows, since, until, group, step, top)}
	out.Truncated = truncated
	if byReason {
		out.ReasonSeries = breakdown(rows, out.Series, len(out.TopReasons), func(i int) string { return out.TopReasons[i].Code },
			func(r *domain.Rollup) (string, bool) { return r.Code, r.Code != "" })
	}
	if byConsumer {
		out.ConsumerSeries = breakdown(rows, out.Series, len(out.TopFailingConsumers), func(i int) string { return out.TopFailingConsumers[i].Consumer },
			func(r *domain.Rollup) (string, bool) {
				return r.ConsumerID, r.ConsumerID != "" && (r.StatusClass == "4xx" || r.StatusClass == "5xx")
			})
	}
	if byModel {
		out.ModelSeries = breakdown(rows, out.Series, len(out.TopModels), func(i int) string { return out.TopModels[i].Model },
			func(r *domain.Rollup) (string, bool) { return r.Model, r.Model != "" })
	}
	if byCost {
		out.CostSeries = make([]domain.Micros, len(out.Series))
	}
	at := make(map[int64]int, len(out.Series))
	for j, p := range out.Series {
		at[p.Time.Unix()] = j
	}
	for i := range rows {
		out.Cost += domain.Micros(rows[i].CostMicros)
		if j, ok := at[rows[i].Minute.Unix()]; ok && byCost {
			out.CostSeries[j] += domain.Micros(rows[i].CostMicros)
		}
	}
	return out, nil
}

// breakdown sums the counts of rows into one series per key (n keys,
// key(i) the i-th), aligned with the report's points. keyOf names a row's
// key and says whether the row counts at all; rows of other keys are
// skipped (they are not in the top lists).
func breakdown(rows []domain.Rollup, points []analytics.Point, n int, key func(i int) string, keyOf func(*domain.Rollup) (string, bool)) []keyedSeries {
	out := make([]keyedSeries, n)
	idx := make(map[string]int, n)
	for i := range out {
		out[i] = keyedSeries{Key: key(i), Values: make([]int64, len(points))}
		idx[out[i].Key] = i
	}
	at := make(map[int64]int, len(points))
	for j, p := range points {
		at[p.Time.Unix()] = j
	}
	for i := range rows {
		r := &rows[i]
		k, ok := keyOf(r)
		if !ok {
			continue
		}
		s, ok := idx[k]
		if !ok {
			continue
		}
		if j, ok := at[r.Minute.Unix()]; ok {
			out[s].Values[j] += r.Count
		}
	}
	return out
}
