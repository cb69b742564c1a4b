package metrics

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scraped is one scrape of the handler, parsed from the text exposition
// format.
type scraped map[string]*dto.MetricFamily

// serve starts the Metrics handler on a loopback httptest server.
func serve(t testing.TB, m *Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// scrape GETs url and parses the text format, as Prometheus would.
func scrape(t testing.TB, url string) scraped {
	t.Helper()
	s, err := scrapeErr(url)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// scrapeErr is scrape for goroutines other than the test's (which must
// not call t.Fatal).
func scrapeErr(url string) (scraped, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape: status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		return nil, fmt.Errorf("scrape: Content-Type %q, want text/plain", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("scrape: parse text format: %w", err)
	}
	return fams, nil
}

// labelKey renders a metric's labels as "k=v,k=v" in name order, the form
// the test tables use.
func labelKey(m *dto.Metric) string {
	parts := make([]string, 0, len(m.GetLabel()))
	for _, l := range m.GetLabel() {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// values returns every series of a counter or gauge family by label key.
func (s scraped) values(name string) map[string]float64 {
	out := map[string]float64{}
	f := s[name]
	if f == nil {
		return out
	}
	for _, m := range f.GetMetric() {
		switch {
		case m.Counter != nil:
			out[labelKey(m)] = m.GetCounter().GetValue()
		case m.Gauge != nil:
			out[labelKey(m)] = m.GetGauge().GetValue()
		case m.Untyped != nil:
			out[labelKey(m)] = m.GetUntyped().GetValue()
		}
	}
	return out
}

// histogram returns one histogram series by label key.
func (s scraped) histogram(t testing.TB, name, labels string) *dto.Histogram {
	t.Helper()
	f := s[name]
	if f == nil {
		t.Fatalf("%s: family missing", name)
	}
	for _, m := range f.GetMetric() {
		if labelKey(m) == labels {
			return m.GetHistogram()
		}
	}
	t.Fatalf("%s{%s}: series missing", name, labels)
	return nil
}

// histogramCounts returns each histogram series' sample count by label key.
func (s scraped) histogramCounts(name string) map[string]uint64 {
	out := map[string]uint64{}
	if f := s[name]; f != nil {
		for _, m := range f.GetMetric() {
			out[labelKey(m)] = m.GetHistogram().GetSampleCount()
		}
	}
	return out
}

// equalMap compares two maps exactly: same keys, same values.
func equalMap[V comparable](t testing.TB, what string, got, want map[string]V) {
	t.Helper()
	keys := map[string]bool{}
	for k := range got {
		keys[k] = true
	}
	for k := range want {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	var diffs []string
	for _, k := range sorted {
		g, gok := got[k]
		w, wok := want[k]
		switch {
		case !gok:
			diffs = append(diffs, fmt.Sprintf("  {%s}: missing, want %v", k, w))
		case !wok:
			diffs = append(diffs, fmt.Sprintf("  {%s}: %v, want no such series", k, g))
		case g != w:
			diffs = append(diffs, fmt.Sprintf("  {%s}: %v, want %v", k, g, w))
		}
	}
	if len(diffs) > 0 {
		t.Errorf("%s:\n%s", what, strings.Join(diffs, "\n"))
	}
}
