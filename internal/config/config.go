// Package config reads gatehouse.yaml and the GATEHOUSE_* environment into
// one validated Config. Every validation error names the file, the line and
// the field, and says how to fix it: an operator should never have to guess
// which of forty lines is wrong.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"gatehouse/internal/domain"
	"gatehouse/internal/tracing"
)

// Proxy listener servers (Config.ProxyServer).
const (
	ProxyServerFast    = "fast"
	ProxyServerNetHTTP = "net/http"
)

// Config is the gateway's configuration.
type Config struct {
	// Environment this gateway serves: live or test (§1, §3).
	Environment string `yaml:"environment"`
	ProxyAddr   string `yaml:"proxy_addr"`
	// ProxyServer is the HTTP/1.1 server of a cleartext proxy listener:
	// "fast" (internal/front, fasthttp's connection loop, the default) or
	// "net/http". A TLS listener is always net/http (HTTP/2, mTLS).
	ProxyServer string `yaml:"proxy_server"`
	AdminAddr   string `yaml:"admin_addr"`
	// Database is the storage URL: sqlite://path (embedded) or postgres://…
	Database string `yaml:"database"`
	// RedisURL (cluster mode) holds shared counters and the nonce cache.
	RedisURL string `yaml:"redis_url"`
	// RateLimits configures what happens when Redis is down.
	RateLimits RateLimits `yaml:"rate_limits"`
	// PublicURL is the base of the error-page links in rejections
	// (type: <public_url>/.well-known/gatehouse/errors/<code>). Empty: the
	// links are built from the request's own scheme and host.
	PublicURL string `yaml:"public_url"`
	LogLevel  string `yaml:"log_level"`  // debug, info, warn, error
	LogFormat string `yaml:"log_format"` // text, json
	// TrustedProxies are CIDRs whose X-Forwarded-For is believed.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// SecureCookies marks the console's and the portal's cookies Secure on
	// plain HTTP too: set it when a TLS-terminating proxy is in front of
	// them. A request that arrives over TLS always gets Secure cookies; a
	// console served over plain HTTP without it gets cookies the browser
	// sends back over that plain HTTP.
	SecureCookies bool `yaml:"secure_cookies"`
	// RotationGrace is the default grace period of a rotated key.
	RotationGrace domain.Duration `yaml:"rotation_grace"`
	// ExpiryWarning: within this time of a key's expiry, responses carry
	// Gatehouse-Credential-Expires.
	ExpiryWarning   domain.Duration `yaml:"expiry_warning"`
	ShutdownTimeout domain.Duration `yaml:"shutdown_timeout"`
	CallLog         CallLog         `yaml:"call_log"`
	// Upstream holds gateway-wide defaults for services that set none.
	Upstream UpstreamDefaults `yaml:"upstream"`
	// TLS serves the proxy listener over TLS; with ClientCAFile, client
	// certificates are requested and the mtls credential type works.
	TLS TLS `yaml:"tls"`
	// Tracing exports OpenTelemetry spans over OTLP/HTTP (off unless an
	// endpoint is set).
	Tracing tracing.Settings `yaml:"tracing"`
	// Metrics is the Prometheus endpoint and the per-request observation
	// that feeds it.
	Metrics Metrics `yaml:"metrics"`
	// Analytics keeps per-minute rollups of the call log.
	Analytics Analytics `yaml:"analytics"`
	// Alerts declares alert rules (read-only through the API).
	Alerts Alerts `yaml:"alerts"`
	// Webhooks receive admin events (subscription requested, approved,
	// rejected, revoked) as signed JSON POSTs.
	Webhooks Webhooks `yaml:"webhooks"`
	// BasicAuth configures the lockout after failed Basic attempts.
	BasicAuth BasicAuth `yaml:"basic_auth"`
	// Identity configures the gateway-signed identity token
	// (X-Gatehouse-Identity) that services with identity_jwt receive.
	Identity Identity `yaml:"identity"`

	// Source is the file the config was read from ("" for defaults only).
	Source string `yaml:"-"`
}

// CallLog configures the asynchronous call-log writer (§6).
type CallLog struct {
	QueueSize     int             `yaml:"queue_size"`
	BatchSize     int             `yaml:"batch_size"`
	FlushInterval domain.Duration `yaml:"flush_interval"`
	Retention     domain.Duration `yaml:"retention"`
}

// Metrics configures GET /metrics. They are on by default; the switch
// exists so their cost can be measured (issue 7's overhead bound: the
// bench compares the API-key path with metrics and rollups on and off)
// and turned off where Prometheus is not scraped. Off means off: no
// per-request observation at all, and /metrics answers 404 saying why.
type Metrics struct {
	Enabled bool `yaml:"enabled"`
}

// Analytics configures the rollups. Enabled (default true) computes the
// per-minute rollups behind /admin/v1/stats; off, call records are still
// written (explain, calls, alerts keep working) and no rollup is computed.
type Analytics struct {
	Enabled   bool            `yaml:"enabled"`
	Retention domain.Duration `yaml:"retention"`
}

// Alerts holds declared alert rules.
type Alerts struct {
	Rules []domain.AlertRule `yaml:"rules"`
}

// TLS names PEM files for the proxy listener.
type TLS struct {
	CertFile     string `yaml:"cert_file"`
	KeyFile      string `yaml:"key_file"`
	ClientCAFile string `yaml:"client_ca_file"`
}

// RateLimits: with Redis down, limits fall back to per-node counters
// (each node admitting limit/Nodes), or refuse when FailClosed.
type RateLimits struct {
	FailClosed bool `yaml:"fail_closed"`
	Nodes      int  `yaml:"nodes"`
}

// Webhooks configures event delivery. The signing secret comes from
// GATEHOUSE_WEBHOOK_SECRET (never the file: it would end up in version
// control); receivers check Gatehouse-Signature: t=<unix>,v1=<hex
// HMAC-SHA256 of "t.body">.
type Webhooks struct {
	URLs   []string `yaml:"urls"`
	Secret string   `yaml:"-"`
}

// BasicAuth: failed Basic attempts are counted per username and per
// client address; a counter that reaches its threshold within
// FailureWindow locks that username or address out for LockoutDuration
// (basic.locked_out, 429), without running argon2id. Per node: the
// counters are in memory.
type BasicAuth struct {
	// Lockout is the off switch.
	Lockout bool `yaml:"lockout"`
	// MaxFailuresPerUser and MaxFailuresPerIP are the thresholds; 0 turns
	// that counter off.
	MaxFailuresPerUser int             `yaml:"max_failures_per_user"`
	MaxFailuresPerIP   int             `yaml:"max_failures_per_ip"`
	FailureWindow      domain.Duration `yaml:"failure_window"`
	LockoutDuration    domain.Duration `yaml:"lockout_duration"`
	// MaxTracked bounds the usernames, and separately the addresses,
	// remembered.
	MaxTracked int `yaml:"max_tracked"`
}

// Identity configures the identity token (§8) and its JWKS. The signing
// keys themselves are in the store, not here: every node of a cluster
// must sign with the same key.
type Identity struct {
	// Issuer is every token's "iss"; empty: public_url, else "gatehouse".
	// Upstreams check it, so set it once and keep it.
	Issuer string `yaml:"issuer"`
	// KeyGrace is how long a rotated-out signing key stays in the JWKS
	// when a rotation names no grace (default 24h). It must be longer than
	// JWKSMaxAge and than the longest token lifetime (1h).
	KeyGrace domain.Duration `yaml:"key_grace"`
	// JWKSMaxAge is the JWKS's Cache-Control max-age (default 5m).
	JWKSMaxAge domain.Duration `yaml:"jwks_max_age"`
	// CacheSize bounds the signed tokens kept for reuse, one per
	// service, credential and scopes (default 65536, about 1 KB each).
	CacheSize int `yaml:"cache_size"`
}

// UpstreamDefaults are the timeouts used where a service sets none.
type UpstreamDefaults struct {
	ConnectTimeout  domain.Duration `yaml:"connect_timeout"`
	ResponseTimeout domain.Duration `yaml:"response_timeout"`
	IdleTimeout     domain.Duration `yaml:"idle_timeout"`
}

// Default returns the configuration used when nothing is set.
func Default() Config {
	return Config{
		Environment:     domain.EnvLive,
		ProxyAddr:       ":8080",
		ProxyServer:     ProxyServerFast,
		AdminAddr:       "127.0.0.1:8081",
		Database:        "sqlite://./gatehouse-data/gatehouse.db",
		LogLevel:        "info",
		LogFormat:       "text",
		RotationGrace:   domain.Duration(24 * time.Hour),
		ExpiryWarning:   domain.Duration(14 * 24 * time.Hour),
		ShutdownTimeout: domain.Duration(30 * time.Second),
		CallLog: CallLog{
			QueueSize:     65536,
			BatchSize:     512,
			FlushInterval: domain.Duration(200 * time.Millisecond),
			Retention:     domain.Duration(7 * 24 * time.Hour),
		},
		Metrics:   Metrics{Enabled: true},
		Analytics: Analytics{Enabled: true, Retention: domain.Duration(90 * 24 * time.Hour)},
		Upstream: UpstreamDefaults{
			ConnectTimeout:  domain.Duration(5 * time.Second),
			ResponseTimeout: domain.Duration(60 * time.Second),
			IdleTimeout:     domain.Duration(90 * time.Second),
		},
		Identity: Identity{
			KeyGrace:   domain.Duration(24 * time.Hour),
			JWKSMaxAge: domain.Duration(5 * time.Minute),
			CacheSize:  65536,
		},
		BasicAuth: BasicAuth{
			Lockout:            true,
			MaxFailuresPerUser: 5,
			MaxFailuresPerIP:   50,
			FailureWindow:      domain.Duration(15 * time.Minute),
			LockoutDuration:    domain.Duration(15 * time.Minute),
			MaxTracked:         100000,
		},
	}
}

// FieldError is a validation error located in the config file.
type FieldError struct {
	File  string
	Line  int // 0 when the value came from the environment or a default
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	loc := e.File
	if loc == "" {
		loc = "configuration"
	}
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", loc, e.Line)
	}
	return fmt.Sprintf("%s: %s: %s", loc, e.Field, e.Msg)
}

// Load reads path (if not empty), applies the environment (getenv), and
// validates. The returned error joins every problem found, each a
// *FieldError.
func Load(path string, getenv func(string) string) (Config, error) {
	cfg := Default()
	lines := map[string]int{}
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("read config: %w", err)
		}
		cfg.Source = path
		if err := decode(raw, path, &cfg, lines); err != nil {
			return cfg, err
		}
	}
	applyEnv(&cfg, getenv)
	return cfg, cfg.validate(lines)
}

// decode fills cfg from YAML, rejecting unknown fields, and records the line
// of every field path ("call_log.flush_interval") for validation messages.
func decode(raw []byte, path string, cfg *Config, lines map[string]int) error {
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		return fmt.Errorf("%s: not valid YAML: %w", path, err)
	}
	if len(root.Content) == 0 {
		return nil // empty file: defaults
	}
	recordLines(root.Content[0], "", lines)
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		var ve *domain.ValueError
		if errors.As(err, &ve) {
			return fmt.Errorf("%s:%d: %s: %w", path, ve.Line, fieldAt(root.Content[0], "", ve.Line, ve.Column), ve.Err)
		}
		var te *yaml.TypeError
		if errors.As(err, &te) {
			var errs []error
			for _, m := range te.Errors {
				errs = append(errs, typeError(path, m, lines))
			}
			return errors.Join(errs...)
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// yamlUnknown and yamlLine read yaml.v3's type errors ("line 3: field
// databse not found in type config.Config", "line 5: cannot unmarshal …"),
// whose Go type names mean nothing to an operator.
var (
	yamlUnknown = regexp.MustCompile(`^line (\d+): field (.+) not found in type \S+$`)
	yamlLine    = regexp.MustCompile(`^line (\d+): (.*)$`)
	// "cannot unmarshal !!str `sometimes` into bool"
	yamlWrongType = regexp.MustCompile("^cannot unmarshal !!\\w+ `(.*)` into (\\S+)$")
)

// kindName names a Go type as the operator writes its YAML.
func kindName(goType string) string {
	switch {
	case goType == "bool":
		return "a boolean (true or false)"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "a whole number"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "string":
		return "a string"
	case strings.HasPrefix(goType, "[]"):
		return "a list"
	case strings.HasPrefix(goType, "map["):
		return "a mapping"
	}
	return "a mapping of fields"
}

// typeError rewrites one of yaml.v3's type errors as "file:line: field:
// problem", with the closest known field for a misspelt one.
func typeError(path, msg string, lines map[string]int) error {
	if m := yamlUnknown.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		name := m[2]
		full := name
		for p, l := range lines {
			if l == line && (p == name || strings.HasSuffix(p, "."+name)) {
				full = p
				break
			}
		}
		parent := ""
		if i := strings.LastIndexByte(full, '.'); i >= 0 {
			parent = full[:i]
		}
		e := fmt.Sprintf("%s:%d: %s: no such field", path, line, full)
		if s := closestField(parent, name); s != "" {
			e += fmt.Sprintf("; did you mean %q?", s)
		}
		return errors.New(e + " (the fields are in docs/configuration.md)")
	}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		field := ""
		for p, l := range lines {
			// The deepest field on the line: its value is what failed.
			if l == line && len(p) > len(field) {
				field = p
			}
		}
		problem := m[2]
		if w := yamlWrongType.FindStringSubmatch(problem); w != nil {
			problem = fmt.Sprintf("%q is not %s", w[1], kindName(w[2]))
		}
		if field != "" {
			return fmt.Errorf("%s:%d: %s: %s (see docs/configuration.md for the fields)", path, line, field, problem)
		}
		return fmt.Errorf("%s:%d: %s (see docs/configuration.md for the fields)", path, line, problem)
	}
	return fmt.Errorf("%s: %s (see docs/configuration.md for the fields)", path, msg)
}

// closestField returns the field of the mapping at parent (a dotted path
// of Config's yaml names, "" for the top) nearest to name — at most two
// edits away — or "".
func closestField(parent, name string) string {
	t := reflect.TypeOf(Config{})
	if parent != "" {
		for _, seg := range strings.Split(parent, ".") {
			f, ok := yamlField(t, seg)
			if !ok {
				return ""
			}
			t = f.Type
			for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
				t = t.Elem()
			}
			if t.Kind() != reflect.Struct {
				return ""
			}
		}
	}
	best, bestD := "", 3
	for i := 0; i < t.NumField(); i++ {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		if d := editDistance(strings.ToLower(name), tag); d < bestD {
			best, bestD = tag, d
		}
	}
	return best
}

func yamlField(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		if tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); tag == name {
			return t.Field(i), true
		}
	}
	return reflect.StructField{}, false
}

// editDistance is the Levenshtein distance of two short field names.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// fieldAt names the field whose value sits at line:column (a flow mapping
// puts several on one line, hence the column).
func fieldAt(n *yaml.Node, prefix string, line, column int) string {
	if n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := k.Value
		if prefix != "" {
			p = prefix + "." + k.Value
		}
		if v.Line == line && v.Column == column {
			return p
		}
		if f := fieldAt(v, p, line, column); f != "" {
			return f
		}
	}
	return ""
}

func recordLines(n *yaml.Node, prefix string, lines map[string]int) {
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := k.Value
		if prefix != "" {
			p = prefix + "." + k.Value
		}
		lines[p] = k.Line
		recordLines(v, p, lines)
	}
}

func applyEnv(cfg *Config, getenv func(string) string) {
	if getenv == nil {
		getenv = os.Getenv
	}
	set := func(dst *string, name string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	set(&cfg.ProxyAddr, "GATEHOUSE_PROXY_ADDR")
	set(&cfg.ProxyServer, "GATEHOUSE_PROXY_SERVER")
	set(&cfg.AdminAddr, "GATEHOUSE_ADMIN_ADDR")
	set(&cfg.Database, "GATEHOUSE_DATABASE_URL")
	set(&cfg.RedisURL, "GATEHOUSE_REDIS_URL")
	set(&cfg.Environment, "GATEHOUSE_ENVIRONMENT")
	set(&cfg.PublicURL, "GATEHOUSE_PUBLIC_URL")
	set(&cfg.LogLevel, "GATEHOUSE_LOG_LEVEL")
	set(&cfg.Webhooks.Secret, "GATEHOUSE_WEBHOOK_SECRET")
}

func (c *Config) validate(lines map[string]int) error {
	var errs []error
	bad := func(field, msg string) {
		errs = append(errs, &FieldError{File: c.Source, Line: lines[field], Field: field, Msg: msg})
	}
	if c.Environment != domain.EnvLive && c.Environment != domain.EnvTest && c.Environment != domain.EnvBoth {
		bad("environment", fmt.Sprintf("%q is not an environment: use live or test (or both, with services pinned one by one)", c.Environment))
	}
	for _, a := range []struct{ field, v string }{{"proxy_addr", c.ProxyAddr}, {"admin_addr", c.AdminAddr}} {
		if _, _, err := net.SplitHostPort(a.v); err != nil {
			bad(a.field, fmt.Sprintf("%q is not host:port (e.g. \":8080\" or \"127.0.0.1:0\"): %v", a.v, err))
		}
	}
	switch c.ProxyServer {
	case ProxyServerFast, ProxyServerNetHTTP:
	default:
		bad("proxy_server", fmt.Sprintf("%q: use fast (the default) or net/http", c.ProxyServer))
	}
	if c.ProxyAddr == c.AdminAddr && !strings.HasSuffix(c.ProxyAddr, ":0") {
		bad("admin_addr", "the admin API needs its own listener: it is never served on the proxy port")
	}
	if !strings.HasPrefix(c.Database, "sqlite://") && !strings.HasPrefix(c.Database, "postgres://") && !strings.HasPrefix(c.Database, "postgresql://") {
		bad("database", fmt.Sprintf("%q: use sqlite://path/to/gatehouse.db or postgres://user@host/db", c.Database))
	}
	if c.PublicURL != "" && !strings.HasPrefix(c.PublicURL, "http://") && !strings.HasPrefix(c.PublicURL, "https://") {
		bad("public_url", fmt.Sprintf("%q must start with https:// (or http://)", c.PublicURL))
	}
	c.PublicURL = strings.TrimSuffix(c.PublicURL, "/")
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("log_level", fmt.Sprintf("%q: use debug, info, warn or error", c.LogLevel))
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		bad("log_format", fmt.Sprintf("%q: use text or json", c.LogFormat))
	}
	for i, p := range c.TrustedProxies {
		if _, _, err := net.ParseCIDR(p); err != nil && net.ParseIP(p) == nil {
			bad("trusted_proxies", fmt.Sprintf("entry %d %q is not a CIDR (e.g. 10.0.0.0/8) or an IP", i+1, p))
		}
	}
	positive := func(field string, d domain.Duration) {
		if d <= 0 {
			bad(field, "must be a positive duration such as \"30s\"")
		}
	}
	positive("rotation_grace", c.RotationGrace)
	positive("shutdown_timeout", c.ShutdownTimeout)
	positive("call_log.flush_interval", c.CallLog.FlushInterval)
	positive("call_log.retention", c.CallLog.Retention)
	positive("upstream.connect_timeout", c.Upstream.ConnectTimeout)
	positive("upstream.response_timeout", c.Upstream.ResponseTimeout)
	positive("upstream.idle_timeout", c.Upstream.IdleTimeout)
	if c.ExpiryWarning < 0 {
		bad("expiry_warning", "must not be negative (0 turns the warning off)")
	}
	if c.CallLog.QueueSize < 1 {
		bad("call_log.queue_size", "must be at least 1")
	}
	if c.CallLog.BatchSize < 1 || c.CallLog.BatchSize > c.CallLog.QueueSize {
		bad("call_log.batch_size", "must be between 1 and call_log.queue_size")
	}
	if c.RedisURL != "" && !strings.HasPrefix(c.RedisURL, "redis://") && !strings.HasPrefix(c.RedisURL, "rediss://") {
		bad("redis_url", fmt.Sprintf("%q: use redis://host:6379/0 (or rediss:// for TLS)", c.RedisURL))
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		bad("tls", "cert_file and key_file go together")
	}
	if c.TLS.ClientCAFile != "" && c.TLS.CertFile == "" {
		bad("tls.client_ca_file", "client certificates need a TLS listener: set tls.cert_file and tls.key_file")
	}
	for _, f := range []struct{ field, path string }{{"tls.cert_file", c.TLS.CertFile}, {"tls.key_file", c.TLS.KeyFile}, {"tls.client_ca_file", c.TLS.ClientCAFile}} {
		if f.path != "" {
			if _, err := os.Stat(f.path); err != nil {
				bad(f.field, fmt.Sprintf("cannot read %s: %v", f.path, err))
			}
		}
	}
	if err := c.Tracing.Validate(); err != nil {
		bad("tracing", err.Error())
	}
	if c.RateLimits.Nodes < 0 {
		bad("rate_limits.nodes", "must not be negative")
	}
	for i, u := range c.Webhooks.URLs {
		if !strings.HasPrefix(u, "https://") && !strings.HasPrefix(u, "http://") {
			bad("webhooks.urls", fmt.Sprintf("entry %d %q must be an http(s) URL", i+1, u))
		}
	}
	if len(c.Webhooks.URLs) > 0 && len(c.Webhooks.Secret) < 16 {
		bad("webhooks.urls", "webhooks need a signing secret of at least 16 bytes in GATEHOUSE_WEBHOOK_SECRET")
	}
	ba := c.BasicAuth
	if ba.MaxFailuresPerUser < 0 {
		bad("basic_auth.max_failures_per_user", "must not be negative (0 turns the per-username counter off)")
	}
	if ba.MaxFailuresPerIP < 0 {
		bad("basic_auth.max_failures_per_ip", "must not be negative (0 turns the per-address counter off)")
	}
	if ba.Lockout && ba.MaxFailuresPerUser == 0 && ba.MaxFailuresPerIP == 0 {
		bad("basic_auth.lockout", "both basic_auth.max_failures_per_user and basic_auth.max_failures_per_ip are 0: set lockout: false to turn the lockout off")
	}
	id := c.Identity
	if strings.ContainsFunc(id.Issuer, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		bad("identity.issuer", fmt.Sprintf("%q contains whitespace or a control character: use a URL such as https://gateway.example.com", id.Issuer))
	}
	switch {
	case id.JWKSMaxAge <= 0 || id.JWKSMaxAge.D() > 24*time.Hour:
		bad("identity.jwks_max_age", "must be a positive duration of at most 24h, such as \"5m\"")
	case id.KeyGrace.D() < time.Hour || id.KeyGrace.D() > 30*24*time.Hour:
		bad("identity.key_grace", "must be from 1h (the longest token lifetime) to 720h (30 days), such as \"24h\"")
	case id.KeyGrace <= id.JWKSMaxAge:
		bad("identity.key_grace", fmt.Sprintf("%s must be longer than identity.jwks_max_age (%s): an upstream may cache the JWKS that long, and must still find a rotated-out key in it",
			id.KeyGrace.D(), id.JWKSMaxAge.D()))
	}
	if id.CacheSize < 64 {
		bad("identity.cache_size", "must be at least 64")
	}
	positive("basic_auth.failure_window", ba.FailureWindow)
	positive("basic_auth.lockout_duration", ba.LockoutDuration)
	if ba.MaxTracked < 1000 {
		bad("basic_auth.max_tracked", "must be at least 1000: a smaller table is emptied by a handful of guesses at random usernames")
	}
	return errors.Join(errs...)
}
