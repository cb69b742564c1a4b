package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func noenv(string) string { return "" }

func TestLoad(t *testing.T) {
	cases := []struct {
		desc    string
		yaml    string
		env     map[string]string
		wantErr []string // substrings, all must appear
		check   func(t *testing.T, c Config)
	}{
		{desc: "defaults only", yaml: "", check: func(t *testing.T, c Config) {
			if c.ProxyAddr != ":8080" || c.AdminAddr != "127.0.0.1:8081" || c.Environment != "live" {
				t.Errorf("defaults: %+v", c)
			}
			if c.Database != "sqlite://./gatehouse-data/gatehouse.db" {
				t.Errorf("database default %q", c.Database)
			}
		}},
		{desc: "durations in Go syntax", yaml: "call_log:\n  flush_interval: 50ms\nrotation_grace: 1h\n", check: func(t *testing.T, c Config) {
			if c.CallLog.FlushInterval.D() != 50*time.Millisecond || c.RotationGrace.D() != time.Hour {
				t.Errorf("got %v %v", c.CallLog.FlushInterval.D(), c.RotationGrace.D())
			}
		}},
		{desc: "environment overrides the file", yaml: "proxy_addr: \":9000\"\n", env: map[string]string{"GATEHOUSE_PROXY_ADDR": "127.0.0.1:0"},
			check: func(t *testing.T, c Config) {
				if c.ProxyAddr != "127.0.0.1:0" {
					t.Errorf("proxy addr %q", c.ProxyAddr)
				}
			}},
		{desc: "bad environment names file, line and field", yaml: "proxy_addr: \":9000\"\nenvironment: prod\n",
			wantErr: []string{"gatehouse.yaml:2", "environment", `"prod"`, "live or test"}},
		{desc: "nested field line", yaml: "call_log:\n  queue_size: 10\n  batch_size: 0\n",
			wantErr: []string{"gatehouse.yaml:3", "call_log.batch_size"}},
		{desc: "unknown field is refused with file, line and the field it was meant to be", yaml: "proxy_adr: \":1\"\n",
			wantErr: []string{`gatehouse.yaml:1: proxy_adr: no such field; did you mean "proxy_addr"?`, "docs/configuration.md"}},
		{desc: "a misspelt nested field is named by its full path", yaml: "environment: live\ncall_log:\n  flush_intervall: 1s\n",
			wantErr: []string{`gatehouse.yaml:3: call_log.flush_intervall: no such field; did you mean "flush_interval"?`}},
		{desc: "a field far from every known one gets no guess", yaml: "zzzzzz: 1\n",
			wantErr: []string{"gatehouse.yaml:1: zzzzzz: no such field (the fields"}},
		{desc: "a value of the wrong type: file, line and field, no Go type names", yaml: "call_log:\n  queue_size: many\n",
			wantErr: []string{`gatehouse.yaml:2: call_log.queue_size: "many" is not a whole number`}},
		{desc: "bad duration: file, line and field named", yaml: "shutdown_timeout: soon\n",
			wantErr: []string{"gatehouse.yaml:1: shutdown_timeout:", "soon", "Go syntax"}},
		{desc: "bad nested duration in a flow mapping: file, line and the full field path",
			yaml:    "environment: live\nbasic_auth: {max_failures_per_user: 3, lockout_duration: abc}\n",
			wantErr: []string{"gatehouse.yaml:2: basic_auth.lockout_duration:", `"abc"`}},
		{desc: "same listener for proxy and admin", yaml: "proxy_addr: \":9000\"\nadmin_addr: \":9000\"\n",
			wantErr: []string{"admin_addr", "own listener"}},
		{desc: "bad database URL", yaml: "database: mysql://x\n", wantErr: []string{"database", "sqlite://"}},
		{desc: "metrics and analytics are on by default", yaml: "analytics:\n  retention: 24h\n", check: func(t *testing.T, c Config) {
			if !c.Metrics.Enabled || !c.Analytics.Enabled || c.Analytics.Retention.D() != 24*time.Hour {
				t.Errorf("metrics %+v, analytics %+v", c.Metrics, c.Analytics)
			}
		}},
		{desc: "metrics and analytics turned off, retention kept at its default", yaml: "metrics: {enabled: false}\nanalytics: {enabled: false}\n", check: func(t *testing.T, c Config) {
			if c.Metrics.Enabled || c.Analytics.Enabled || c.Analytics.Retention.D() != 90*24*time.Hour {
				t.Errorf("metrics %+v, analytics %+v", c.Metrics, c.Analytics)
			}
		}},
		{desc: "enabled must be a boolean", yaml: "metrics:\n  enabled: sometimes\n",
			wantErr: []string{`gatehouse.yaml:2: metrics.enabled: "sometimes" is not a boolean (true or false)`}},
		{desc: "bad trusted proxy", yaml: "trusted_proxies: [10.0.0.0/8, nope]\n", wantErr: []string{"trusted_proxies", "entry 2"}},
		{desc: "basic lockout defaults", yaml: "", check: func(t *testing.T, c Config) {
			b := c.BasicAuth
			if !b.Lockout || b.MaxFailuresPerUser != 5 || b.MaxFailuresPerIP != 50 || b.FailureWindow.D() != 15*time.Minute ||
				b.LockoutDuration.D() != 15*time.Minute || b.MaxTracked != 100000 {
				t.Errorf("basic_auth defaults: %+v", b)
			}
		}},
		{desc: "basic lockout set and turned off", yaml: "basic_auth:\n  lockout: false\n  max_failures_per_user: 3\n  max_failures_per_ip: 0\n  failure_window: 1h\n  lockout_duration: 2m\n",
			check: func(t *testing.T, c Config) {
				b := c.BasicAuth
				if b.Lockout || b.MaxFailuresPerUser != 3 || b.MaxFailuresPerIP != 0 || b.FailureWindow.D() != time.Hour || b.LockoutDuration.D() != 2*time.Minute {
					t.Errorf("basic_auth: %+v", b)
				}
			}},
		{desc: "negative basic threshold names its line and field", yaml: "basic_auth:\n  lockout: true\n  max_failures_per_user: -1\n",
			wantErr: []string{"gatehouse.yaml:3", "basic_auth.max_failures_per_user", "must not be negative"}},
		{desc: "basic lockout with both counters off", yaml: "basic_auth:\n  max_failures_per_user: 0\n  max_failures_per_ip: 0\n",
			wantErr: []string{"basic_auth.lockout", "lockout: false"}},
		{desc: "basic lockout durations must be positive", yaml: "basic_auth:\n  failure_window: 0s\n  lockout_duration: -1m\n",
			wantErr: []string{"gatehouse.yaml:2: basic_auth.failure_window", "gatehouse.yaml:3: basic_auth.lockout_duration", "positive duration"}},
		{desc: "basic lockout table too small", yaml: "basic_auth:\n  max_tracked: 10\n", wantErr: []string{"gatehouse.yaml:2", "basic_auth.max_tracked", "at least 1000"}},
		{desc: "identity defaults", yaml: "", check: func(t *testing.T, c Config) {
			i := c.Identity
			if i.Issuer != "" || i.KeyGrace.D() != 24*time.Hour || i.JWKSMaxAge.D() != 5*time.Minute || i.CacheSize != 65536 {
				t.Errorf("identity defaults: %+v", i)
			}
		}},
		{desc: "identity set", yaml: "identity:\n  issuer: https://gw.example.com\n  key_grace: 48h\n  jwks_max_age: 1m\n  cache_size: 1000\n",
			check: func(t *testing.T, c Config) {
				i := c.Identity
				if i.Issuer != "https://gw.example.com" || i.KeyGrace.D() != 48*time.Hour || i.JWKSMaxAge.D() != time.Minute || i.CacheSize != 1000 {
					t.Errorf("identity: %+v", i)
				}
			}},
		{desc: "identity grace shorter than the JWKS cache", yaml: "identity:\n  key_grace: 1h\n  jwks_max_age: 2h\n",
			wantErr: []string{"gatehouse.yaml:2", "identity.key_grace", "longer than identity.jwks_max_age"}},
		{desc: "identity grace shorter than a token", yaml: "identity:\n  key_grace: 30m\n",
			wantErr: []string{"gatehouse.yaml:2", "identity.key_grace", "from 1h"}},
		{desc: "identity JWKS max age not positive", yaml: "identity:\n  jwks_max_age: 0s\n",
			wantErr: []string{"gatehouse.yaml:2", "identity.jwks_max_age"}},
		{desc: "identity issuer with a space", yaml: "identity:\n  issuer: \"my gateway\"\n",
			wantErr: []string{"gatehouse.yaml:2", "identity.issuer", "whitespace"}},
		{desc: "identity cache too small", yaml: "identity:\n  cache_size: 10\n", wantErr: []string{"identity.cache_size", "at least 64"}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			getenv := func(k string) string { return tc.env[k] }
			c, err := Load(write(t, tc.yaml), getenv)
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("want error containing %q, got none", tc.wantErr)
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			tc.check(t, c)
		})
	}
}

func TestLoadWithoutFile(t *testing.T) {
	c, err := Load("", noenv)
	if err != nil || c.Source != "" {
		t.Fatalf("Load(\"\"): %v %+v", err, c)
	}
}
