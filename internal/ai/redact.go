package ai

import (
	"regexp"
	"strings"
)

// Provider error bodies sometimes echo the credential ("Incorrect API key
// provided: sk-proj-abc…xyz", LiteLLM's leak into logs). Every provider
// text that reaches a caller, a log line or a Result goes through redact
// first: the provider's own keys verbatim, anything that starts like one of
// them (a partially masked echo), and the shapes of well-known keys and
// auth parameters.

const redacted = "[REDACTED]"

// secretShapes are compiled once and only read afterwards.
var secretShapes = []*regexp.Regexp{
	regexp.MustCompile(`sk-[A-Za-z0-9_\-*.]{6,}`),                                           // OpenAI, Anthropic (sk-ant-…)
	regexp.MustCompile(`AIza[0-9A-Za-z_\-]{10,}`),                                           // Google API keys
	regexp.MustCompile(`(?i)(bearer\s+)[^\s"',;]+`),                                         // Authorization values
	regexp.MustCompile(`(?i)((?:x-)?(?:goog-)?api[-_]?key["']?\s*[=:]\s*["']?)[^\s"',;&]+`), // api-key: …, api_key=…
	regexp.MustCompile(`(?i)([?&]key=)[^&\s"']+`),                                           // ?key= in echoed URLs
}

// redact removes the keys and key-shaped strings from s.
func redact(s string, keys []string) string {
	if s == "" {
		return s
	}
	for _, k := range keys {
		if k == "" {
			continue
		}
		s = strings.ReplaceAll(s, k, redacted)
		// A partially masked echo starts with the key's first characters.
		if len(k) >= 12 {
			s = redactPrefix(s, k[:8])
		}
	}
	for _, re := range secretShapes {
		if re.NumSubexp() > 0 {
			s = re.ReplaceAllString(s, "${1}"+redacted)
		} else {
			s = re.ReplaceAllString(s, redacted)
		}
	}
	return s
}

// redactPrefix replaces every word that starts with prefix.
func redactPrefix(s, prefix string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, prefix)
		if i < 0 {
			if b.Len() == 0 {
				return s
			}
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString(redacted)
		j := i + len(prefix)
		for j < len(s) && !isSep(s[j]) {
			j++
		}
		s = s[j:]
	}
}

func isSep(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '"', '\'', ',', ';', ')', ']', '}':
		return true
	}
	return false
}
