package ratelimit

import (
	"net/http"
	"strconv"
	"time"
)

// Headers adds the rate-limit response fields for d to h, following
// draft-ietf-httpapi-ratelimit-headers-11 (May 2026), §3 and §4:
//
//	RateLimit-Policy: "gold";q=100;w=60
//	RateLimit: "gold";r=42;t=1
//
// and, when d is a denial, Retry-After in delay-seconds (RFC 9110 §10.2.3).
//
//   - The policy item is an sf-string of Limit.Name ("default" when empty);
//     q is Limit.Limit and w is Period in whole seconds (rounded up, at least
//     1, since the draft has no sub-second windows). A Burst different from
//     the Limit is shown as the vendor parameter gatehouse-burst (§3.1 allows
//     prefixed implementation parameters).
//   - r is Decision.Remaining. t is the draft's "effective window": the
//     seconds within which the client can use no more than r. Under GCRA the
//     available quota grows by one every Period/Limit, so t is the time until
//     the next unit is restored, rounded up (0 only when the quota is full).
//     A calendar quota (Day, Month) is restored all at once, so there t is
//     the time until the window ends and w the current window's length.
//     On a denial t equals Retry-After, which satisfies §6 ("the
//     Retry-After field value SHOULD NOT reference a point in time earlier
//     than the end of the effective window").
//   - Fields are added, not set: a request under several policies (consumer,
//     route, plan) gets one list member per policy, which §3/§4 allow to be
//     split over several field lines. Retry-After keeps the largest value.
//
// A zero Decision (no limit applied) adds nothing.
func Headers(h http.Header, d Decision) {
	l := d.Limit
	if l.Limit <= 0 || l.Period <= 0 {
		return
	}
	burst := l.Burst
	if burst <= 0 {
		burst = l.Limit
	}
	var buf [128]byte
	switch prev := h["Ratelimit-Policy"]; {
	case l.policyField == nil || l.Window != Rolling:
		h["Ratelimit-Policy"] = append(prev, string(appendPolicy(buf[:0], l)))
	case prev == nil:
		// The prepared slice is shared by every response of this limit:
		// its capacity is 1, so a later append (another policy on the same
		// response) copies instead of writing into it.
		h["Ratelimit-Policy"] = l.policyField[:]
	default:
		h["Ratelimit-Policy"] = append(prev, l.policyField[0])
	}

	var wait time.Duration
	switch {
	case l.Window != Rolling: // a quota is restored all at once
		wait = d.ResetAfter
	case !d.Allowed:
		wait = d.RetryAfter
	case d.Remaining < burst:
		interval := time.Duration(l.Period.Microseconds()/int64(l.Limit)) * time.Microsecond
		wait = d.ResetAfter - time.Duration(burst-d.Remaining-1)*interval
	}
	remaining := max(d.Remaining, 0)
	b := appendSFString(buf[:0], l.Name)
	b = append(b, ";r="...)
	b = strconv.AppendInt(b, int64(remaining), 10)
	b = append(b, ";t="...)
	if d.Allowed {
		b = strconv.AppendInt(b, ceilSeconds(wait, 0), 10)
	} else {
		b = strconv.AppendInt(b, ceilSeconds(wait, 1), 10)
	}
	h["Ratelimit"] = append(h["Ratelimit"], string(b))

	if !d.Allowed {
		retry := ceilSeconds(d.RetryAfter, 1)
		if prev, err := strconv.ParseInt(h.Get("Retry-After"), 10, 64); err == nil && prev > retry {
			retry = prev
		}
		h["Retry-After"] = []string{strconv.FormatInt(retry, 10)}
	}
}

// appendPolicy appends l's RateLimit-Policy list member: its name, quota
// and window, and the burst when it differs from the quota.
func appendPolicy(b []byte, l Limit) []byte {
	burst := l.Burst
	if burst <= 0 {
		burst = l.Limit
	}
	b = appendSFString(b, l.Name)
	b = append(b, ";q="...)
	b = strconv.AppendInt(b, int64(l.Limit), 10)
	b = append(b, ";w="...)
	b = strconv.AppendInt(b, ceilSeconds(l.Period, 1), 10)
	if burst != l.Limit {
		b = append(b, ";gatehouse-burst="...)
		b = strconv.AppendInt(b, int64(burst), 10)
	}
	return b
}

// ceilSeconds is d in whole seconds, rounded up, and at least floor.
func ceilSeconds(d time.Duration, floor int64) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	if d <= 0 {
		s = 0
	}
	return max(s, floor)
}

// appendSFString appends name as a Structured Field string (RFC 9651
// §3.3.3): quoted, with '"' and '\' escaped. Characters outside printable
// ASCII are not representable and become '_', so a policy name can never
// inject a header line or break the list syntax.
func appendSFString(b []byte, name string) []byte {
	if name == "" {
		name = "default"
	}
	b = append(b, '"')
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c > 0x7e:
			b = append(b, '_')
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
