package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/domain"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		desc, in string
		want     time.Duration
		wantErr  string
	}{
		{"days alone", "90d", 90 * 24 * time.Hour, ""},
		{"days and hours", "1d12h", 36 * time.Hour, ""},
		{"Go syntax", "24h", 24 * time.Hour, ""},
		{"minutes", "90m", 90 * time.Minute, ""},
		{"surrounding space", " 7d ", 7 * 24 * time.Hour, ""},
		{"zero days", "0d", 0, ""},
		{"empty", "", 0, "empty"},
		{"fractional days are refused", "1.5d", 0, "whole number of days"},
		{"garbage", "soon", 0, "use e.g."},
		{"garbage after days", "1dx", 0, "use e.g."},
		{"overflowing days", "999999999999d", 0, "too long"},
	}
	for _, tc := range tests {
		got, err := parseDuration(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: parseDuration(%q) error = %v, want one containing %q", tc.desc, tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: parseDuration(%q) = %v, %v; want %v", tc.desc, tc.in, got, err, tc.want)
		}
	}
}

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		desc    string
		in      string
		future  bool
		want    time.Time
		wantErr string
	}{
		{"duration into the future (expiry)", "90d", true, now.Add(90 * 24 * time.Hour), ""},
		{"duration into the past (--since)", "1h", false, now.Add(-time.Hour), ""},
		{"RFC 3339 is taken as is", "2027-01-31T00:00:00Z", true, time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC), ""},
		{"RFC 3339 with offset", "2027-01-31T02:00:00+02:00", false, time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC), ""},
		{"zero duration", "0d", true, time.Time{}, "must be positive"},
		{"neither", "next tuesday", true, time.Time{}, "neither a duration"},
	}
	for _, tc := range tests {
		got, err := parseWhen(tc.in, now, tc.future)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error = %v, want one containing %q", tc.desc, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("%s: parseWhen(%q) = %v, %v; want %v", tc.desc, tc.in, got, err, tc.want)
		}
	}
}

func TestWhen(t *testing.T) {
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		desc string
		t    time.Time
		want string
	}{
		{"zero", time.Time{}, "–"},
		{"same instant", now, "2026-11-20T10:00:00Z (just now)"},
		{"seconds", now.Add(-42 * time.Second), "2026-11-20T09:59:18Z (42s ago)"},
		{"minutes", now.Add(-5 * time.Minute), "2026-11-20T09:55:00Z (5m ago)"},
		{"hours up to two days", now.Add(-47 * time.Hour), "2026-11-18T11:00:00Z (47h ago)"},
		{"days", now.Add(-10 * 24 * time.Hour), "2026-11-10T10:00:00Z (10d ago)"},
		{"future", now.Add(90 * 24 * time.Hour), "2027-02-18T10:00:00Z (in 90d)"},
		{"other zone shown in UTC", now.In(time.FixedZone("X", 3600)), "2026-11-20T10:00:00Z (just now)"},
	}
	for _, tc := range tests {
		if got := when(tc.t, now); got != tc.want {
			t.Errorf("%s: when = %q, want %q", tc.desc, got, tc.want)
		}
	}
}

func TestClean(t *testing.T) {
	tests := []struct{ desc, in, want string }{
		{"plain text untouched", "shop-mobile ✓", "shop-mobile ✓"},
		{"escape sequence neutralised", "a\x1b[31mred", `a\x1b[31mred`},
		{"tab cannot break a table", "a\tb", `a\tb`},
		{"newline cannot forge a line", "a\nb", `a\nb`},
		{"invalid UTF-8 shown as bytes", "a\xffb", `a\xffb`},
		{"C1 control", "a\u009bb", `a\u009bb`},
	}
	for _, tc := range tests {
		if got := clean(tc.in); got != tc.want {
			t.Errorf("%s: clean(%q) = %q, want %q", tc.desc, tc.in, got, tc.want)
		}
	}
	if got := cleanLines("one\x1b\ntwo"); got != "one\\x1b\ntwo" {
		t.Errorf("cleanLines kept or lost the wrong characters: %q", got)
	}
}

func TestMicros(t *testing.T) {
	tests := []struct {
		desc string
		in   int64
		want string
	}{
		{"unknown", 0, "–"},
		{"microseconds", 412, "412µs"},
		{"milliseconds", 1530, "1.5ms"},
		{"seconds", 2_450_000, "2.45s"},
	}
	for _, tc := range tests {
		if got := micros(tc.in); got != tc.want {
			t.Errorf("%s: micros(%d) = %q, want %q", tc.desc, tc.in, got, tc.want)
		}
	}
}

func TestKeyState(t *testing.T) {
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Hour), now.Add(time.Hour)
	tests := []struct {
		desc string
		k    keyItem
		want string
	}{
		{"fresh key", keyItem{APIKey: domain.APIKey{}}, "active"},
		{"expiring later", keyItem{APIKey: domain.APIKey{ExpiresAt: &future}}, "active"},
		{"expired", keyItem{APIKey: domain.APIKey{ExpiresAt: &past}}, "expired"},
		{"expires exactly now", keyItem{APIKey: domain.APIKey{ExpiresAt: &now}}, "expired"},
		{"revoked beats expired", keyItem{APIKey: domain.APIKey{RevokedAt: &past, ExpiresAt: &past}}, "revoked"},
		{"rotated, in grace", keyItem{APIKey: domain.APIKey{Successor: "x", GraceUntil: &future}}, "rotating"},
		{"rotated, grace over", keyItem{APIKey: domain.APIKey{Successor: "x", GraceUntil: &past}}, "rotated"},
		{"the API's status wins", keyItem{APIKey: domain.APIKey{ExpiresAt: &past}, Status: "revoked"}, "revoked"},
	}
	for _, tc := range tests {
		if got := keyState(tc.k, now); got != tc.want {
			t.Errorf("%s: keyState = %q, want %q", tc.desc, got, tc.want)
		}
	}
}

func TestRenderTree(t *testing.T) {
	var buf bytes.Buffer
	raw := `{"version":"dev","calllog":{"dropped":0,"queue":3,"written":1200},"snapshot":{"version":42,"age":"1.2s"},"ok":true,"listeners":["a","b"],"none":null,"empty":{}}`
	if err := renderTree(&buf, []byte(raw)); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"calllog.dropped:   0\n" +
		"calllog.queue:     3\n" +
		"calllog.written:   1200\n" +
		"empty:             –\n" +
		"listeners:         a, b\n" +
		"none:              –\n" +
		"ok:                true\n" +
		"snapshot.age:      1.2s\n" +
		"snapshot.version:  42\n" +
		"version:           dev\n"
	if buf.String() != want {
		t.Errorf("renderTree:\n%s\nwant:\n%s", buf.String(), want)
	}
	if err := renderTree(&buf, []byte("<html>")); err == nil {
		t.Error("renderTree accepted a non-JSON body")
	}
}

func TestPrintJSON(t *testing.T) {
	var buf bytes.Buffer
	if err := printJSON(&buf, []byte(`{"id":"x","scopes":["a"]}`+"\n")); err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"id\": \"x\",\n  \"scopes\": [\n    \"a\"\n  ]\n}\n"
	if buf.String() != want {
		t.Errorf("printJSON = %q, want %q", buf.String(), want)
	}
	buf.Reset()
	if err := printJSON(&buf, nil); err != nil || buf.Len() != 0 {
		t.Errorf("printJSON of an empty body wrote %q, %v", buf.String(), err)
	}
	if err := printJSON(&buf, []byte("{")); err == nil {
		t.Error("printJSON accepted invalid JSON")
	}
}
