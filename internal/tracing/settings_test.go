package tracing_test

import (
	"context"
	"maps"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"gatehouse/internal/tracing"
)

func TestSettings(t *testing.T) {
	cases := []struct {
		desc    string
		yaml    string
		headers string
		want    tracing.Config
		wantErr string
	}{
		{"absent block: tracing off", ``, "", tracing.Config{SampleRatio: 1}, ""},
		{"endpoint only: sample every new trace",
			"tracing:\n  endpoint: http://collector:4318\n", "",
			tracing.Config{Endpoint: "http://collector:4318", SampleRatio: 1}, ""},
		{"explicit ratio 0 stays 0",
			"tracing:\n  endpoint: http://collector:4318\n  sample_ratio: 0\n  service_name: gatehouse-eu\n", "",
			tracing.Config{Endpoint: "http://collector:4318", SampleRatio: 0, ServiceName: "gatehouse-eu"}, ""},
		{"headers from the environment, URL-decoded",
			"tracing:\n  endpoint: https://otlp.example.com/otlp/v1/traces\n  sample_ratio: 0.25\n",
			" Authorization = Bearer%20s3cr3t , X-Scope-OrgID=acme",
			tracing.Config{Endpoint: "https://otlp.example.com/otlp/v1/traces", SampleRatio: 0.25,
				Headers: map[string]string{"Authorization": "Bearer s3cr3t", "X-Scope-OrgID": "acme"}}, ""},
		{"ratio out of range", "tracing:\n  endpoint: http://collector:4318\n  sample_ratio: 2\n", "", tracing.Config{}, "tracing.sample_ratio"},
		{"endpoint with credentials", "tracing:\n  endpoint: http://u:s3cr3t@collector:4318\n", "", tracing.Config{}, "tracing.endpoint"},
		{"header without a value separator", "tracing:\n  endpoint: http://collector:4318\n", "Authorization", tracing.Config{}, "entry 1"},
		{"header with a bad name", "tracing:\n  endpoint: http://collector:4318\n", "a=1,Bad Name=s3cr3t", tracing.Config{}, "entry 2"},
		{"header value with bad escaping", "tracing:\n  endpoint: http://collector:4318\n", "Authorization=s3cr3t%zz", tracing.Config{}, "URL-encoded"},
		{"header value with a line break", "tracing:\n  endpoint: http://collector:4318\n", "Authorization=s3cr3t%0D%0AX-Evil:%201", tracing.Config{}, "control"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			var doc struct {
				Tracing tracing.Settings `yaml:"tracing"`
			}
			if err := yaml.Unmarshal([]byte(tc.yaml), &doc); err != nil {
				t.Fatal(err)
			}
			err := doc.Tracing.Validate()
			var cfg tracing.Config
			if err == nil {
				cfg, err = doc.Tracing.Config(tc.headers)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one naming %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "s3cr3t") {
					t.Errorf("error %q repeats a secret", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Endpoint != tc.want.Endpoint || cfg.SampleRatio != tc.want.SampleRatio ||
				cfg.ServiceName != tc.want.ServiceName || !maps.Equal(cfg.Headers, tc.want.Headers) {
				t.Errorf("Config = %+v, want %+v", cfg, tc.want)
			}
			// The result is what New accepts (or turns off).
			tr, err := tracing.New(context.Background(), cfg, nil)
			if err != nil {
				t.Fatalf("New(%+v): %v", cfg, err)
			}
			if (tr != nil) != (cfg.Endpoint != "") {
				t.Errorf("tracer on = %v for endpoint %q", tr != nil, cfg.Endpoint)
			}
			_ = tr.Shutdown(context.Background())
		})
	}
}

// TestExportFailuresLoggedOnce: a collector refusing exports is reported
// once with the cause and once when it recovers (with the spans lost),
// never per batch, and never with the collector's credentials.
func TestExportFailuresLoggedOnce(t *testing.T) {
	c := newCollector(t)
	lg := &logs{}
	tr := newTracer(t, c, 1, lg)
	ctx := context.Background()
	emit := func() {
		_, span := tr.Start(request("GET", "", ""))
		span.End(nil)
		if err := tr.Flush(ctx); err != nil {
			t.Fatalf("flush: %v", err)
		}
	}
	c.status.Store(400) // not retryable: the exporter fails at once
	for range 3 {
		emit()
	}
	c.status.Store(0)
	emit()
	emit()
	if n := c.requests(); n != 5 {
		t.Errorf("collector got %d export requests, want 5", n)
	}
	var warns, infos []map[string]any
	for _, rec := range lg.records(t) {
		msg, _ := rec["msg"].(string)
		switch {
		case rec["level"] == "WARN" && strings.Contains(msg, "export"):
			warns = append(warns, rec)
		case rec["level"] == "INFO" && strings.Contains(msg, "exporting spans again"):
			infos = append(infos, rec)
		}
	}
	if len(warns) != 1 || !strings.Contains(warns[0]["error"].(string), "400") {
		t.Errorf("failure warnings %v, want exactly one naming the 400", warns)
	}
	if len(infos) != 1 || infos[0]["spans_lost"] != float64(3) {
		t.Errorf("recovery logs %v, want exactly one with spans_lost 3", infos)
	}
	if strings.Contains(lg.String(), "collector-token") {
		t.Error("the collector's credentials were logged")
	}
}
