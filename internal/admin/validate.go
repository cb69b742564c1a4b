package admin

import (
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gatehouse/internal/domain"
)

// parseDuration accepts Go duration syntax ("24h", "90m") plus whole or
// decimal days with a "d" suffix, alone or leading ("90d", "1.5d", "1d12h"),
// because key lifetimes are naturally counted in days.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("empty duration")
	}
	if i := strings.IndexByte(s, 'd'); i > 0 {
		days, err := strconv.ParseFloat(s[:i], 64)
		if err != nil || days < 0 {
			return 0, fmt.Errorf("%q: the days before \"d\" must be a number, e.g. \"90d\"", s)
		}
		d := time.Duration(days * float64(24*time.Hour))
		if rest := s[i+1:]; rest != "" {
			r, err := time.ParseDuration(rest)
			if err != nil {
				return 0, fmt.Errorf("%q: after the days use Go syntax such as \"12h\"", s)
			}
			d += r
		}
		return d, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q: use Go syntax such as \"24h\" or \"90m\", or days such as \"90d\"", s)
	}
	return d, nil
}

// parseInstant reads an RFC 3339 time, or a duration meaning "that long
// before now" (?since=1h).
func parseInstant(field, s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	d, err := parseDuration(s)
	if err != nil {
		return time.Time{}, invalid("%s %q must be an RFC 3339 time (2026-01-02T15:04:05Z) or a duration before now (1h, 7d)", field, s)
	}
	return now.Add(-d), nil
}

// parseExpiry reads expires_at (RFC 3339) or expires_in (a duration from
// now); at most one of them. Both empty means no expiry.
func parseExpiry(expiresAt, expiresIn string, now time.Time) (*time.Time, error) {
	switch {
	case expiresAt != "" && expiresIn != "":
		return nil, invalid("give expires_at or expires_in, not both")
	case expiresAt != "":
		t, err := time.Parse(time.RFC3339Nano, expiresAt)
		if err != nil {
			return nil, invalid("expires_at %q must be an RFC 3339 time such as \"2027-01-31T00:00:00Z\"", expiresAt)
		}
		t = t.UTC().Truncate(time.Microsecond)
		if !t.After(now) {
			return nil, invalid("expires_at %s is not in the future (now is %s)", t.Format(time.RFC3339), now.Format(time.RFC3339))
		}
		return &t, nil
	case expiresIn != "":
		d, err := parseDuration(expiresIn)
		if err != nil {
			return nil, invalid("expires_in %v", err)
		}
		if d <= 0 {
			return nil, invalid("expires_in %q must be positive", expiresIn)
		}
		t := now.Add(d)
		return &t, nil
	}
	return nil, nil
}

var (
	slugRE   = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)
	nameRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)
	scopeRE  = regexp.MustCompile(`^[!-~]{1,128}$`) // printable ASCII, no space
	labelRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$`)
	idLikeRE = regexp.MustCompile(`^(ten|con|svc|rte|adm|sub|iss|crd|prv|mdl|bdg|prm)_`)
	hostRE   = regexp.MustCompile(`^(\*\.)?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*(:[0-9]{1,5})?$`)
)

func checkSlug(s string) error {
	if s == "" {
		return invalid("slug is required: lower-case letters, digits and '-', e.g. \"acme\"")
	}
	if !slugRE.MatchString(s) {
		return invalid("slug %q must be 1-63 lower-case letters, digits or '-', starting and ending with a letter or digit", s)
	}
	return nil
}

// checkName validates an object name. Names are referenced in URLs and as
// "tenant/name", so they carry no '/' or spaces.
func checkName(kind, s string) error {
	if s == "" {
		return invalid("name is required for a %s: letters, digits, '.', '_' or '-', e.g. \"shop-mobile\"", kind)
	}
	if !nameRE.MatchString(s) {
		return invalid("%s name %q must be 1-100 letters, digits, '.', '_' or '-', starting with a letter or digit", kind, s)
	}
	if idLikeRE.MatchString(s) {
		return invalid("%s name %q starts like a generated id (%s); pick a name without that prefix so references stay unambiguous", kind, s, s[:4])
	}
	return nil
}

// checkScopes validates and de-duplicates scopes (order kept).
func checkScopes(field string, in []string) ([]string, error) {
	out := make([]string, 0, len(in))
	for i, s := range in {
		if !scopeRE.MatchString(s) {
			return nil, invalid("%s[%d] %q is not a scope: 1-128 printable characters without spaces, e.g. \"orders:read\"", field, i, s)
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// checkIPAllow validates an allow-list of addresses and CIDR prefixes. A
// prefix with host bits set ("10.0.0.1/24") is refused rather than
// silently widened or narrowed.
func checkIPAllow(field string, in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make([]string, 0, len(in))
	for i, s := range in {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			if p.Masked() != p {
				return nil, invalid("%s[%d] %q has bits set after the /%d prefix: did you mean %q?", field, i, s, p.Bits(), p.Masked().String())
			}
			out = append(out, p.String())
			continue
		}
		if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
			out = append(out, a.String())
			continue
		}
		return nil, invalid("%s[%d] %q is not an IP address or CIDR prefix, e.g. \"203.0.113.7\", \"203.0.113.0/24\" or \"2001:db8::/32\"", field, i, s)
	}
	return out, nil
}

func checkLabels(in map[string]string) error {
	for k, v := range in {
		if !labelRE.MatchString(k) {
			return invalid("label key %q must be 1-63 letters, digits, '.', '_', '/' or '-'", k)
		}
		if len(v) > 256 {
			return invalid("label %q is %d bytes long; values are limited to 256", k, len(v))
		}
	}
	return nil
}

// checkTargetURL validates an upstream target: http or https with a host,
// and nothing a base URL cannot carry.
func checkTargetURL(field, s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return invalid("%s %q is not a URL: %v", field, s, strings.TrimPrefix(err.Error(), "parse "))
	case u.Scheme != "http" && u.Scheme != "https":
		return invalid("%s %q must start with http:// or https://, e.g. \"http://10.0.0.5:8080\"", field, s)
	case u.Host == "" || u.Hostname() == "":
		return invalid("%s %q has no host: write it as \"%s://host:port\"", field, s, u.Scheme)
	case u.User != nil:
		return invalid("%s %q carries credentials: targets may not contain user:password@", field, s)
	case u.RawQuery != "" || u.Fragment != "":
		return invalid("%s %q has a query or fragment: a target is a base URL (scheme, host, port, optional path)", field, s)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return invalid("%s %q has port %q; ports are 1-65535", field, s, p)
		}
	}
	return nil
}

// oneOf validates an enumerated field.
func oneOf(field, v string, allowed ...string) error {
	if slices.Contains(allowed, v) {
		return nil
	}
	quoted := make([]string, len(allowed))
	for i, a := range allowed {
		quoted[i] = strconv.Quote(a)
	}
	return invalid("%s %q is not one of %s", field, v, strings.Join(quoted, ", "))
}

// rateLimitInput is a rate limit as sent: the period as a string so an
// error can name the field.
type rateLimitInput struct {
	// Limit is the number of calls allowed per period (at least 1).
	Limit int `json:"limit"`
	// Period is a duration such as "1m", "1h" or "1d".
	Period string `json:"period"`
	// By is what the limit counts: consumer (default), credential or route.
	By string `json:"by,omitempty"`
}

// maxRateLimit bounds a limit's count; beyond it a limit is no limit.
const maxRateLimit = 1_000_000_000

// buildRateLimit validates a rate limit (nil stays nil): limit at least 1,
// period positive, by one of consumer (the default), credential, route.
func buildRateLimit(field string, in *rateLimitInput) (*domain.RateLimit, error) {
	if in == nil {
		return nil, nil
	}
	if in.Limit < 1 || in.Limit > maxRateLimit {
		return nil, invalid("%s.limit %d must be from 1 to %d calls per period", field, in.Limit, maxRateLimit)
	}
	if in.Period == "" {
		return nil, invalid("%s.period is required: how long the limit's window is, e.g. \"1m\", \"1h\" or \"1d\"", field)
	}
	d, err := parseDuration(in.Period)
	if err != nil {
		return nil, invalid("%s.period %v", field, err)
	}
	if d <= 0 {
		return nil, invalid("%s.period %q must be positive, e.g. \"1m\"", field, in.Period)
	}
	// The limiters count in whole microseconds between admissions: a limit
	// finer than one call per microsecond cannot be enforced (and would
	// fail every call), so it is refused here, where the operator sees it.
	if d/time.Duration(in.Limit) < time.Microsecond {
		return nil, invalid("%s: %d calls per %s is more than one per microsecond, which the limiter cannot count; "+
			"use at most %d calls per %s", field, in.Limit, in.Period, int64(d/time.Microsecond), in.Period)
	}
	by, err := limitBy(field, in.By)
	if err != nil {
		return nil, err
	}
	return &domain.RateLimit{Limit: in.Limit, Period: domain.Duration(d), By: by}, nil
}

// quotaInput is a quota as sent.
type quotaInput struct {
	// Limit is the number of calls per period (at least 1).
	Limit int64 `json:"limit"`
	// Period is "day" or "month" (calendar, UTC): the count resets at its end.
	Period string `json:"period"`
	// By is what the quota counts: consumer (default), credential or route.
	By string `json:"by,omitempty"`
}

// buildQuota validates a quota (nil stays nil).
func buildQuota(field string, in *quotaInput) (*domain.Quota, error) {
	if in == nil {
		return nil, nil
	}
	if in.Limit < 1 || in.Limit > maxRateLimit {
		return nil, invalid("%s.limit %d must be from 1 to %d calls per period", field, in.Limit, maxRateLimit)
	}
	if in.Period == "" {
		return nil, invalid("%s.period is required: \"day\" or \"month\" (calendar, UTC; the count resets at its end)", field)
	}
	if err := oneOf(field+".period", in.Period, domain.QuotaDay, domain.QuotaMonth); err != nil {
		return nil, err
	}
	by, err := limitBy(field, in.By)
	if err != nil {
		return nil, err
	}
	return &domain.Quota{Limit: in.Limit, Period: in.Period, By: by}, nil
}

// limitBy validates what a rate limit or quota counts per: consumer (the
// default), credential or route.
func limitBy(field, by string) (string, error) {
	if by == "" {
		by = domain.LimitByConsumer
	}
	return by, oneOf(field+".by", by, domain.LimitByConsumer, domain.LimitByCredential, domain.LimitByRoute)
}

func quotaToInput(q *domain.Quota) *quotaInput {
	if q == nil {
		return nil
	}
	return &quotaInput{Limit: q.Limit, Period: q.Period, By: q.By}
}

func rateLimitToInput(r *domain.RateLimit) *rateLimitInput {
	if r == nil {
		return nil
	}
	return &rateLimitInput{Limit: r.Limit, Period: r.Period.D().String(), By: r.By}
}
