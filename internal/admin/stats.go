package admin

import (
	"fmt"
	"strconv"
	"time"

	"gatehouse/internal/analytics"
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

// stats answers GET /admin/v1/stats from the per-minute rollups: totals,
// the error rate over time, top reasons and top failing consumers.
func (a *API) stats(rc *reqCtx) (any, error) {
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
	f := store.RollupFilter{Since: since.Truncate(time.Minute), Until: until, Step: step, TenantID: rc.scope(),
		RouteID: rc.query("route"), Limit: statsMaxRows + 1}
	if ref := rc.query("tenant"); ref != "" {
		err := rc.view(func(tx store.Tx) error {
			t, err := rc.loadTenant(tx, ref)
			f.TenantID = t.ID
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	if ref := rc.query("consumer"); ref != "" {
		id, err := rc.consumerID("consumer", ref)
		if err != nil {
			return nil, err
		}
		if err := rc.view(func(tx store.Tx) error { _, err := rc.loadConsumer(tx, id); return err }); err != nil {
			return nil, err
		}
		f.ConsumerID = id
	}
	rows, err := an.QueryRollups(rc.ctx, f)
	if err != nil {
		return nil, storeError(err)
	}
	truncated := len(rows) > statsMaxRows
	if truncated {
		rows = rows[:statsMaxRows]
	}
	rep := analytics.Compute(rows, since, until, group, step, top)
	rep.Truncated = truncated
	return rep, nil
}
