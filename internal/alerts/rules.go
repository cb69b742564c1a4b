package alerts

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"gatehouse/internal/domain"
	"gatehouse/internal/reason"
)

// Defaults and bounds of rule fields.
const (
	DefaultWindow          = time.Minute
	DefaultCooldown        = 10 * time.Minute
	DefaultExpiringWithin  = 7 * 24 * time.Hour
	DefaultExpiringCooling = 24 * time.Hour
	minWindow              = time.Second
	maxWindow              = 24 * time.Hour
	maxCooldown            = 30 * 24 * time.Hour
	minWithin              = time.Hour
	maxWithin              = 365 * 24 * time.Hour
	maxNameLength          = 100
)

// RuleError is a rule that does not validate; its message names the field
// and the fix.
type RuleError struct{ Msg string }

func (e *RuleError) Error() string { return e.Msg }

func bad(format string, args ...any) error { return &RuleError{Msg: fmt.Sprintf(format, args...)} }

// IsRuleError reports whether err is a validation error of Normalize.
func IsRuleError(err error) bool {
	var re *RuleError
	return errors.As(err, &re)
}

// Normalize checks a rule and fills in its defaults (window 1m, cooldown
// 10m — 24h for key_expiring —, by consumer, within 7 days). Fields that
// mean nothing for the rule's kind are refused rather than ignored, so a
// rule never silently does something else than its author read into it.
func Normalize(r *domain.AlertRule) error {
	r.Name = strings.TrimSpace(r.Name)
	switch {
	case r.Name == "":
		return bad("name is required: a short label such as \"jwt expiry storm\"")
	case utf8.RuneCountInString(r.Name) > maxNameLength:
		return bad("name has %d characters; at most %d", utf8.RuneCountInString(r.Name), maxNameLength)
	case strings.ContainsFunc(r.Name, func(c rune) bool { return c < ' ' || c == 0x7f }):
		return bad("name must not contain control characters")
	}
	if r.Cooldown < 0 || r.Cooldown.D() > maxCooldown {
		return bad("cooldown %s must be between 1s and %s", r.Cooldown.D(), maxCooldown)
	}
	if r.Cooldown != 0 && r.Cooldown.D() < time.Second {
		return bad("cooldown %s must be at least 1s", r.Cooldown.D())
	}
	thresholdOnly := func() error {
		switch {
		case r.Reason != "":
			return bad("reason applies to threshold rules only, not %s", r.Kind)
		case r.By != "":
			return bad("by applies to threshold rules only, not %s", r.Kind)
		case r.Threshold != 0:
			return bad("threshold applies to threshold rules only, not %s", r.Kind)
		case r.Window != 0:
			return bad("window applies to threshold rules only, not %s", r.Kind)
		}
		return nil
	}
	switch r.Kind {
	case domain.AlertThreshold:
		if r.Within != 0 {
			return bad("within applies to key_expiring rules only")
		}
		if err := checkReason(r.Reason); err != nil {
			return err
		}
		if r.By == "" {
			r.By = domain.AlertByConsumer
		}
		switch r.By {
		case domain.AlertByConsumer, domain.AlertByTenant, domain.AlertByRoute, domain.AlertByCredential:
		default:
			return bad("by %q must be consumer, tenant, route or credential", r.By)
		}
		if r.Threshold < 1 {
			return bad("threshold must be 1 or more: the rule fires when the count within the window exceeds it (\"more than 10 per minute\" is threshold 10, window 1m)")
		}
		if r.Window == 0 {
			r.Window = domain.Duration(DefaultWindow)
		}
		if r.Window.D() < minWindow || r.Window.D() > maxWindow {
			return bad("window %s must be between %s and %s", r.Window.D(), minWindow, maxWindow)
		}
	case domain.AlertKeyExpiring:
		if err := thresholdOnly(); err != nil {
			return err
		}
		if r.RouteID != "" {
			return bad("route does not apply to key_expiring rules: credentials are not tied to a route")
		}
		if r.Within == 0 {
			r.Within = domain.Duration(DefaultExpiringWithin)
		}
		if r.Within.D() < minWithin || r.Within.D() > maxWithin {
			return bad("within %s must be between %s and %s", r.Within.D(), minWithin, maxWithin)
		}
		if r.Cooldown == 0 {
			r.Cooldown = domain.Duration(DefaultExpiringCooling)
		}
	case domain.AlertRotatedKeyUsed, domain.AlertNewIP, domain.AlertDeprecatedServiceUsed:
		if err := thresholdOnly(); err != nil {
			return err
		}
		if r.Within != 0 {
			return bad("within applies to key_expiring rules only")
		}
	case "":
		return bad("kind is required: threshold, key_expiring, rotated_key_used, new_ip or deprecated_service_used")
	default:
		return bad("kind %q must be threshold, key_expiring, rotated_key_used, new_ip or deprecated_service_used", r.Kind)
	}
	if r.Cooldown == 0 {
		r.Cooldown = domain.Duration(DefaultCooldown)
	}
	return nil
}

// checkReason accepts "", a catalogued code, or a family prefix ending in
// "." that some code has.
func checkReason(s string) error {
	if s == "" {
		return nil
	}
	if strings.HasSuffix(s, ".") {
		for _, e := range reason.All() {
			if strings.HasPrefix(e.Code, s) {
				return nil
			}
		}
		return bad("reason %q: no reason code starts with it (families: auth., key., jwt., sig., mtls., basic., consumer., subscription., rate., upstream., …)", s)
	}
	if _, ok := reason.Lookup(s); !ok {
		return bad("reason %q is not a reason code; use a code such as jwt.expired, a family such as jwt., or leave it empty for every rejected call", s)
	}
	return nil
}
