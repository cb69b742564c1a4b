package tracing

import (
	"fmt"
	"net/url"
	"strings"
)

// Settings is the `tracing:` block of gatehouse.yaml, for
// internal/config to embed:
//
//	tracing:
//	  endpoint: http://collector:4318   # empty or absent: tracing off
//	  sample_ratio: 0.1                 # absent: 1 (every new trace)
//	  service_name: gatehouse-eu        # absent: gatehouse
//
// Collector headers (often an API key) are deliberately not a file field —
// a secret in the file ends up in version control — but come from the
// environment variable named by HeadersEnv; see ParseHeaders.
type Settings struct {
	Endpoint string `yaml:"endpoint"`
	// SampleRatio is a pointer so that "absent" (sample everything, the
	// least surprising default once an endpoint is set) differs from an
	// explicit 0 (propagate context, export nothing new).
	SampleRatio *float64 `yaml:"sample_ratio"`
	ServiceName string   `yaml:"service_name"`
}

// HeadersEnv is the environment variable holding the collector headers,
// in the OTEL_EXPORTER_OTLP_HEADERS format: "k1=v1,k2=v2" with
// URL-encoded values, e.g. "Authorization=Bearer%20s3cr3t".
const HeadersEnv = "GATEHOUSE_TRACING_HEADERS"

// Validate checks the settings; its errors name the YAML field and never
// repeat a credential.
func (s Settings) Validate() error {
	if s.Endpoint != "" {
		if _, err := exportURL(s.Endpoint); err != nil {
			return fmt.Errorf("tracing.endpoint: %w", err)
		}
	}
	if s.SampleRatio != nil {
		if err := checkRatio(*s.SampleRatio); err != nil {
			return fmt.Errorf("tracing.sample_ratio: %w", err)
		}
	}
	return nil
}

// Config returns the Config for New, with defaults applied and the
// headers parsed from the HeadersEnv value (pass os.Getenv(HeadersEnv)).
func (s Settings) Config(headersEnv string) (Config, error) {
	h, err := ParseHeaders(headersEnv)
	if err != nil {
		return Config{}, err
	}
	ratio := 1.0
	if s.SampleRatio != nil {
		ratio = *s.SampleRatio
	}
	return Config{Endpoint: s.Endpoint, SampleRatio: ratio, ServiceName: s.ServiceName, Headers: h}, nil
}

// ParseHeaders reads "k1=v1,k2=v2" (values URL-decoded, whitespace around
// names and values trimmed), the OTEL_EXPORTER_OTLP_HEADERS format. Empty
// input gives no headers. Errors name the entry's position, never its
// value, since values are usually secrets.
func ParseHeaders(v string) (map[string]string, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	h := map[string]string{}
	for i, part := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(part, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || !validName(k) {
			return nil, fmt.Errorf("%s: entry %d is not name=value with a header name (use k1=v1,k2=v2)", HeadersEnv, i+1)
		}
		dec, err := url.PathUnescape(strings.TrimSpace(val))
		if err != nil {
			return nil, fmt.Errorf("%s: entry %d (%s): the value is not URL-encoded correctly", HeadersEnv, i+1, k)
		}
		if strings.ContainsAny(dec, "\r\n\x00") {
			return nil, fmt.Errorf("%s: entry %d (%s): control characters in the value", HeadersEnv, i+1, k)
		}
		h[k] = dec
	}
	return h, nil
}

// validName reports an RFC 9110 token.
func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
