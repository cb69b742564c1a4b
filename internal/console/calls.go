package console

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"gatehouse/internal/analytics"
	"gatehouse/internal/domain"
)

// callFilters are the call-log search fields, as the admin API names them.
var callFilters = []string{"since", "until", "consumer", "route", "status", "reason"}

// callsData is the calls page.
type callsData struct {
	*listData[domain.Call]
	RequestID string
	Live      bool
	Error     string
	RowsURL   string
}

func (c *Console) callList(r *http.Request, rs *reqState) (*callsData, int, error) {
	q := query(r, callFilters...)
	d, err := listPageOf[domain.Call](c, r, rs, q, "calls")
	if err != nil {
		if s := statusOf(err); s == http.StatusBadRequest || s == http.StatusNotFound || s == http.StatusConflict {
			// A search the API refused (bad reason code, unknown
			// consumer): show the form again with the API's words.
			f := url.Values{}
			for _, k := range callFilters {
				if v := q.Get(k); v != "" {
					f.Set(k, v)
				}
			}
			return &callsData{listData: &listData[domain.Call]{Filter: f, Names: c.names(r, rs)}, Error: err.Error()}, s, nil
		}
		return nil, 0, err
	}
	cd := &callsData{listData: d, Live: r.URL.Query().Get("live") == "1" && r.URL.Query().Get("after") == ""}
	rq := url.Values{}
	for k, v := range d.Filter {
		rq[k] = v
	}
	cd.RowsURL = c.base + "/calls/rows?" + rq.Encode()
	return cd, http.StatusOK, nil
}

func (c *Console) calls(w http.ResponseWriter, r *http.Request, rs *reqState) {
	if id := strings.TrimSpace(r.URL.Query().Get("request_id")); id != "" {
		http.Redirect(w, r, c.base+"/calls/"+url.PathEscape(id), http.StatusSeeOther)
		return
	}
	d, status, err := c.callList(r, rs)
	if err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	c.tpl.render(w, status, "c_calls", "", c.view(rs, "calls", "Calls", d))
}

// callRows is the live tail's htmx fragment: the newest page of rows.
func (c *Console) callRows(w http.ResponseWriter, r *http.Request, rs *reqState) {
	d, status, err := c.callList(r, rs)
	if err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	c.tpl.render(w, status, "c_calls", "rows", c.view(rs, "calls", "Calls", d))
}

// callData is one call with its decision trace.
type callData struct {
	Call  domain.Call
	Names *names
	// Failed is the step that decided a rejection.
	Failed *domain.TraceStep
	// Hidden counts the operator-only steps (what the caller was not told).
	Hidden int
	// KeyConsumer is the consumer owning the call's API key when the
	// record has none (a revoked, expired or rotated key is refused
	// before the consumer is recorded).
	KeyConsumer string
}

func (c *Console) call(w http.ResponseWriter, r *http.Request, rs *reqState) {
	d := callData{Names: c.names(r, rs)}
	if err := c.api.get(r.Context(), rs.se.token, pathOf(nil, "calls", r.PathValue("id")), &d.Call); err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	if d.Call.ConsumerID == "" && d.Call.CredentialID != "" && d.Call.CredentialType == "api_key" {
		var k keyItem
		if c.api.get(r.Context(), rs.se.token, pathOf(nil, "keys", d.Call.CredentialID), &k) == nil {
			d.KeyConsumer = k.ConsumerID
		}
	}
	for i := range d.Call.Trace {
		st := &d.Call.Trace[i]
		if st.Private {
			d.Hidden++
		}
		if st.Outcome == domain.OutcomeFail && d.Failed == nil {
			d.Failed = st
		}
	}
	c.tpl.render(w, http.StatusOK, "c_call", "", c.view(rs, "calls", "Call "+d.Call.RequestID, d))
}

// ---- dashboard ----

// The dashboard reads GET /admin/v1/stats, the per-minute rollups (issue
// 7), which answer in constant time whatever the size of the call log:
// the page is one /stats call, its over-time charts (loaded after it) one
// more with series_by=reason,consumer — the top reasons and failing
// consumers over time come from the same rollup rows as the report. Only
// when the gateway writes no rollups (no analytics store, or rollups not
// wired) are the figures read from the call log: the newest
// dashboardMaxCalls records of the window, and the page says so.
const dashboardMaxCalls = 5000

// windows are the dashboard's time ranges and, for the call-log
// fallback, their bucket widths.
var windows = []struct {
	Name   string
	Span   time.Duration
	Bucket time.Duration
}{
	{"15m", 15 * time.Minute, 30 * time.Second},
	{"1h", time.Hour, time.Minute},
	{"6h", 6 * time.Hour, 5 * time.Minute},
	{"24h", 24 * time.Hour, 20 * time.Minute},
}

// series is one named line of a chart.
type series struct {
	Label  string    `json:"label"`
	Values []float64 `json:"values"`
}

// chart is one uPlot chart: x in Unix seconds and its series.
type chart struct {
	ID     string   `json:"id"`
	Title  string   `json:"title"`
	Unit   string   `json:"unit"`
	X      []int64  `json:"x"`
	Series []series `json:"series"`
	Max    *float64 `json:"max,omitempty"`
}

// counted is one row of a top-N table.
type counted struct {
	Key   string
	Label string
	Count int
	Share float64 // of the window's rejections
	Extra string  // e.g. a consumer's top reason
}

// dashboardData is the dashboard page.
type dashboardData struct {
	Window    string
	Windows   []string
	Since     time.Time
	Total     int
	Rejected  int
	ServerErr int
	ErrorRate float64
	P50, P99  int64
	Reasons   []counted
	Failing   []counted
	Charts    []chart
	// TrendsURL, when set, is the fragment with the over-time charts,
	// loaded after the page (htmx): they cost one query per line.
	TrendsURL string
	// Source names where the figures come from; Note qualifies them
	// (sampling, truncation) in a sentence for the page.
	Source string
	Note   string
	Names  *names
}

func (c *Console) dashboard(w http.ResponseWriter, r *http.Request, rs *reqState) {
	win := windows[1]
	for _, x := range windows {
		if x.Name == r.URL.Query().Get("window") {
			win = x
		}
	}
	ctx, tok := r.Context(), rs.se.token
	var d dashboardData
	var rep analytics.Report
	err := c.api.get(ctx, tok, pathOf(url.Values{"since": {win.Name}, "top": {"10"}}, "stats"), &rep)
	useCalls, note := false, ""
	switch {
	case err != nil && (isStatus(err, http.StatusNotFound) || isStatus(err, http.StatusInternalServerError)):
		useCalls, note = true, "This gateway serves no call statistics (GET /admin/v1/stats): "
	case err != nil && isStatus(err, http.StatusConflict):
		// analytics.enabled: false — records are kept, rollups are not.
		useCalls, note = true, "This gateway computes no rollups (analytics.enabled: false): "
	case err != nil:
		c.apiFailed(w, r, rs, err)
		return
	case rep.Totals.Requests == 0:
		// No traffic, or rollups not being written: the call log tells.
		var probe listPage[domain.Call]
		if err := c.api.get(ctx, tok, pathOf(url.Values{"since": {win.Name}, "limit": {"1"}}, "calls"), &probe); err != nil {
			c.apiFailed(w, r, rs, err)
			return
		}
		if len(probe.Items) > 0 {
			useCalls, note = true, "The call statistics are empty while the call log is not (the gateway writes no rollups): "
		}
	}
	if useCalls {
		if d, err = c.callsDashboard(r, rs, win.Span, win.Bucket); err != nil {
			c.apiFailed(w, r, rs, err)
			return
		}
		d.Note = note + d.Note
	} else {
		d = statsSummary(&rep)
		d.TrendsURL = c.base + "/dashboard/trends?window=" + win.Name
	}
	d.Window, d.Names = win.Name, c.names(r, rs)
	for _, x := range windows {
		d.Windows = append(d.Windows, x.Name)
	}
	for i := range d.Failing {
		d.Failing[i].Label = d.Names.Consumer(d.Failing[i].Key)
	}
	for i := range d.Charts {
		if d.Charts[i].ID == "failing" {
			for j := range d.Charts[i].Series {
				d.Charts[i].Series[j].Label = d.Names.Consumer(d.Charts[i].Series[j].Label)
			}
		}
	}
	c.tpl.render(w, http.StatusOK, "c_dashboard", "", c.view(rs, "dashboard", "Dashboard", d))
}

// trendsReport is the /stats answer with series_by=reason,consumer,model.
type trendsReport struct {
	analytics.Report
	ReasonSeries   []keyedSeries `json:"reason_series"`
	ConsumerSeries []keyedSeries `json:"consumer_series"`
	ModelSeries    []keyedSeries `json:"model_series"`
}

// keyedSeries is one line of a /stats breakdown, aligned with Series.
type keyedSeries struct {
	Key    string  `json:"key"`
	Values []int64 `json:"values"`
}

// dashboardTrends is the htmx fragment with the over-time charts: the top
// reasons, failing consumers and (when AI routes were called) AI models,
// each a line, from one /stats call.
func (c *Console) dashboardTrends(w http.ResponseWriter, r *http.Request, rs *reqState) {
	win := windows[1]
	for _, x := range windows {
		if x.Name == r.URL.Query().Get("window") {
			win = x
		}
	}
	var rep trendsReport
	q := url.Values{"since": {win.Name}, "top": {fmt.Sprint(topN)}, "series_by": {"reason,consumer,model"}}
	if err := c.api.get(r.Context(), rs.se.token, pathOf(q, "stats"), &rep); err != nil {
		c.apiFailed(w, r, rs, err)
		return
	}
	d := dashboardData{Names: c.names(r, rs)}
	x := make([]int64, len(rep.Series))
	for i, p := range rep.Series {
		x[i] = p.Time.Unix()
	}
	lines := func(ks []keyedSeries, label func(string) string) []series {
		out := make([]series, 0, len(ks))
		for _, k := range ks {
			v := make([]float64, len(k.Values))
			for i, n := range k.Values {
				v[i] = float64(n)
			}
			out = append(out, series{Label: label(k.Key), Values: v})
		}
		return out
	}
	d.Charts = []chart{
		{ID: "reasons", Title: "Top rejection reasons over time", Unit: "calls", X: x,
			Series: lines(rep.ReasonSeries, func(k string) string { return k })},
		{ID: "failing", Title: "Top failing consumers over time", Unit: "failed calls", X: x,
			Series: lines(rep.ConsumerSeries, d.Names.Consumer)},
	}
	if len(rep.ModelSeries) > 0 {
		d.Charts = append(d.Charts, chart{ID: "models", Title: "AI models over time", Unit: "calls", X: x,
			Series: lines(rep.ModelSeries, func(k string) string { return k })})
	}
	c.tpl.render(w, http.StatusOK, "c_dashboard", "trends", c.view(rs, "dashboard", "Trends", d))
}

// statsSummary builds the dashboard's figures, top lists and traffic and
// error-rate charts from one /stats report.
func statsSummary(rep *analytics.Report) dashboardData {
	t := rep.Totals
	d := dashboardData{Since: rep.Since, Total: int(t.Requests), Rejected: int(t.Errors), ServerErr: int(t.ByClass["5xx"]),
		ErrorRate: t.ErrorRate, P50: t.Latency.P50Micros, P99: t.Latency.P99Micros, Source: "call statistics (per-minute rollups)"}
	if rep.Truncated {
		d.Note = "The statistics were truncated: narrow the window. "
	}
	n := len(rep.Series)
	x := make([]int64, n)
	reqs, errs, rate := make([]float64, n), make([]float64, n), make([]float64, n)
	for i, p := range rep.Series {
		x[i] = p.Time.Unix()
		reqs[i], errs[i], rate[i] = float64(p.Requests), float64(p.Errors), 100*p.ErrorRate
	}
	for _, rc := range rep.TopReasons {
		d.Reasons = append(d.Reasons, counted{Key: rc.Code, Label: rc.Code, Count: int(rc.Count), Share: rc.Share})
	}
	for _, fc := range rep.TopFailingConsumers {
		share := 0.0
		if t.Errors > 0 {
			share = float64(fc.Failures) / float64(t.Errors)
		}
		d.Failing = append(d.Failing, counted{Key: fc.Consumer, Label: fc.Consumer, Count: int(fc.Failures), Share: share, Extra: fc.TopReason})
	}
	hundred := 100.0
	d.Charts = []chart{
		{ID: "traffic", Title: "Traffic (calls per " + rep.GroupBy + ")", Unit: "calls", X: x,
			Series: []series{{Label: "all calls", Values: reqs}, {Label: "rejected or failed", Values: errs}}},
		{ID: "errors", Title: "Error rate", Unit: "%", X: x, Max: &hundred, Series: []series{{Label: "errors %", Values: rate}}},
	}
	return d
}

// callsDashboard is the fallback: the figures of the newest
// dashboardMaxCalls records of the window, read through GET /calls.
func (c *Console) callsDashboard(r *http.Request, rs *reqState, span, bucket time.Duration) (dashboardData, error) {
	now := c.clock.Now().UTC()
	since := now.Add(-span).Truncate(bucket)
	var recs []domain.Call
	q := url.Values{"since": {since.Format(time.RFC3339Nano)}, "limit": {"1000"}}
	truncated := false
	for {
		var p listPage[domain.Call]
		if err := c.api.get(r.Context(), rs.se.token, pathOf(q, "calls"), &p); err != nil {
			return dashboardData{}, err
		}
		recs = append(recs, p.Items...)
		if p.Next == "" {
			break
		}
		if len(recs) >= dashboardMaxCalls {
			truncated = true
			break
		}
		q.Set("after", p.Next)
	}
	d := summarize(recs, since, now, bucket)
	d.Since, d.Source = since, "the call log"
	d.Note = "figures computed from the call log."
	if truncated && len(recs) > 0 {
		d.Note = fmt.Sprintf("figures cover only the newest %d calls of the window, from %s.", len(recs), recs[len(recs)-1].Time.UTC().Format("2006-01-02 15:04:05Z"))
	}
	return d, nil
}

// rejected reports whether a call was refused by the gateway or failed
// upstream: every call with a reason code.
func rejected(cl *domain.Call) bool { return cl.Code != "" || cl.Status >= 500 }

// topN is how many reasons and consumers the dashboard charts over time.
const topN = 5

// summarize turns call records (newest first) into the dashboard's
// figures and chart series, in buckets of width b from since to now.
func summarize(recs []domain.Call, since, now time.Time, b time.Duration) dashboardData {
	n := int(now.Sub(since)/b) + 1
	x := make([]int64, n)
	for i := range x {
		x[i] = since.Add(time.Duration(i) * b).Unix()
	}
	total := make([]float64, n)
	rej := make([]float64, n)
	byReason := map[string][]float64{}
	byConsumer := map[string][]float64{}
	reasonCount := map[string]int{}
	consumerCount := map[string]int{}
	lat := make([]int64, 0, len(recs))
	d := dashboardData{Total: len(recs)}
	for i := range recs {
		cl := &recs[i]
		k := int(cl.Time.Sub(since) / b)
		if k < 0 || k >= n {
			continue
		}
		total[k]++
		lat = append(lat, cl.LatencyMicros)
		if cl.Status >= 500 {
			d.ServerErr++
		}
		if !rejected(cl) {
			continue
		}
		d.Rejected++
		rej[k]++
		code := cl.Code
		if code == "" {
			code = "upstream " + http.StatusText(cl.Status)
		}
		reasonCount[code]++
		if byReason[code] == nil {
			byReason[code] = make([]float64, n)
		}
		byReason[code][k]++
		if cl.ConsumerID != "" {
			consumerCount[cl.ConsumerID]++
			if byConsumer[cl.ConsumerID] == nil {
				byConsumer[cl.ConsumerID] = make([]float64, n)
			}
			byConsumer[cl.ConsumerID][k]++
		}
	}
	if d.Total > 0 {
		d.ErrorRate = float64(d.Rejected) / float64(d.Total)
		slices.Sort(lat)
		d.P50 = lat[len(lat)/2]
		d.P99 = lat[min(len(lat)-1, len(lat)*99/100)]
	}
	d.Reasons = top(reasonCount, d.Rejected, 10)
	d.Failing = top(consumerCount, d.Rejected, 10)
	rate := make([]float64, n)
	for i := range rate {
		if total[i] > 0 {
			rate[i] = 100 * rej[i] / total[i]
		}
	}
	hundred := 100.0
	d.Charts = []chart{
		{ID: "traffic", Title: "Traffic (calls per bucket)", Unit: "calls", X: x,
			Series: []series{{Label: "all calls", Values: total}, {Label: "rejected", Values: rej}}},
		{ID: "errors", Title: "Error rate", Unit: "%", X: x, Max: &hundred,
			Series: []series{{Label: "rejected %", Values: rate}}},
		{ID: "reasons", Title: "Top rejection reasons over time", Unit: "calls", X: x, Series: seriesOf(d.Reasons, byReason)},
		{ID: "failing", Title: "Top failing consumers over time", Unit: "calls", X: x, Series: seriesOf(d.Failing, byConsumer)},
	}
	return d
}

// top sorts counts descending (ties by key) and keeps the first k.
func top(counts map[string]int, of, k int) []counted {
	out := make([]counted, 0, len(counts))
	for key, n := range counts {
		s := 0.0
		if of > 0 {
			s = float64(n) / float64(of)
		}
		out = append(out, counted{Key: key, Label: key, Count: n, Share: s})
	}
	slices.SortFunc(out, func(a, b counted) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return cmp.Compare(a.Key, b.Key)
	})
	return out[:min(k, len(out))]
}

func seriesOf(rows []counted, by map[string][]float64) []series {
	out := []series{}
	for _, r := range rows[:min(topN, len(rows))] {
		out = append(out, series{Label: r.Key, Values: by[r.Key]})
	}
	return out
}
