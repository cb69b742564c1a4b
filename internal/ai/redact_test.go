package ai

import (
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	keys := []string{"my-custom-provider-key-0123456789", "sk-proj-abcdefghijklmnop"}
	cases := []struct{ name, in, gone string }{
		{"exact key", "bad key my-custom-provider-key-0123456789 given", "my-custom-provider-key-0123456789"},
		{"masked echo keeps the first characters", "Incorrect API key provided: my-custo****6789.", "my-custo"},
		{"openai shape", "Incorrect API key provided: sk-proj-****************mnop.", "sk-proj-"},
		{"anthropic shape (not configured)", "key sk-ant-api03-ZZZZZZZZZZZZ invalid", "sk-ant-api03-ZZZZ"},
		{"google shape", "API key AIzaSyD-1234567890abcdefghij not valid", "AIzaSyD-1234567890"},
		{"bearer", `header "Authorization: Bearer token-123456" rejected`, "token-123456"},
		{"api-key header echo", "api-key: 0123456789abcdef0123 invalid", "0123456789abcdef0123"},
		{"x-goog-api-key", `x-goog-api-key="secretvalue42"`, "secretvalue42"},
		{"key in an echoed URL", "GET https://g.example/v1beta/models?alt=sse&key=AbCdEf123 failed", "AbCdEf123"},
	}
	for _, tc := range cases {
		got := redact(tc.in, keys)
		if strings.Contains(got, tc.gone) || !strings.Contains(got, "[REDACTED]") {
			t.Errorf("%s: %q → %q", tc.name, tc.in, got)
		}
	}
	if got := redact("Rate limit reached for requests", keys); got != "Rate limit reached for requests" {
		t.Errorf("harmless text changed: %q", got)
	}
}
