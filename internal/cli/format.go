package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"
)

// parseDuration reads Go duration syntax plus a leading whole number of days
// ("90d", "1d12h"), since key lifetimes are naturally said in days and
// time.ParseDuration stops at hours.
func parseDuration(s string) (time.Duration, error) {
	orig := s
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("duration is empty: use e.g. 90d, 24h or 30m")
	}
	var days int64
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.ParseInt(s[:i], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("duration %q: use a whole number of days (90d) or Go syntax (36h, 90m)", orig)
		}
		if n > math.MaxInt64/int64(24*time.Hour) {
			return 0, fmt.Errorf("duration %q is too long", orig)
		}
		days, s = n, s[i+1:]
	}
	d := time.Duration(days) * 24 * time.Hour
	if s == "" {
		return d, nil
	}
	rest, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("duration %q: use e.g. 90d, 24h, 1d12h or 30m", orig)
	}
	return d + rest, nil
}

// parseWhen reads either a duration from now (90d, 24h) or an RFC 3339 time.
// future says in which direction a duration points (expiry: future; --since:
// past).
func parseWhen(s string, now time.Time, future bool) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, strings.TrimSpace(s)); err == nil {
		return t, nil
	}
	d, err := parseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a duration (90d, 24h) nor an RFC 3339 time (2027-01-31T00:00:00Z)", s)
	}
	if d <= 0 {
		return time.Time{}, fmt.Errorf("duration %q must be positive", s)
	}
	if future {
		return now.Add(d), nil
	}
	return now.Add(-d), nil
}

// when renders a time for people: absolute (UTC, RFC 3339, so it can be
// pasted into a flag) and relative to now.
func when(t, now time.Time) string {
	if t.IsZero() {
		return "–"
	}
	return t.UTC().Format(time.RFC3339) + " (" + relative(t, now) + ")"
}

// whenPtr is when for optional times; missing reads as never.
func whenPtr(t *time.Time, now time.Time, none string) string {
	if t == nil || t.IsZero() {
		return none
	}
	return when(*t, now)
}

// relative says "3m ago" or "in 89d".
func relative(t, now time.Time) string {
	d := now.Sub(t)
	future := d < 0
	if future {
		d = -d
	}
	var s string
	switch {
	case d < time.Second:
		return "just now"
	case d < time.Minute:
		s = fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		s = fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		s = fmt.Sprintf("%dh", int(d/time.Hour))
	default:
		s = fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

// micros renders a latency in microseconds.
func micros(us int64) string {
	if us <= 0 {
		return "–"
	}
	d := time.Duration(us) * time.Microsecond
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", us)
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(us)/1e3)
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

// clean makes a value safe to print on a terminal: call records carry paths
// and user agents chosen by whoever called the gateway, and a control
// character (an ANSI escape, a tab, a newline) must neither rewrite the
// operator's screen nor break a table's columns.
func clean(s string) string {
	ok := true
	for _, r := range s {
		if r == utf8.RuneError || (unicode.IsControl(r) && r != '\n') {
			ok = false
			break
		}
	}
	if ok && !strings.Contains(s, "\n") {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unicode.IsControl(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// cleanLines is clean but keeps newlines, for multi-line error messages.
func cleanLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = clean(l)
	}
	return strings.Join(lines, "\n")
}

// csv joins a string list for a table cell.
func csv(v []string) string {
	if len(v) == 0 {
		return "–"
	}
	c := make([]string, len(v))
	for i, s := range v {
		c[i] = clean(s)
	}
	return strings.Join(c, ",")
}

// or returns s cleaned, or def when s is empty.
func or(s, def string) string {
	if s == "" {
		return def
	}
	return clean(s)
}

// table writes aligned columns for people.
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	t.row(header...)
	return t
}

// row adds one row; cells are expected to be cleaned already.
func (t *table) row(cells ...string) {
	fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// fields writes "name:  value" lines, aligned, for a single object.
func fields(w io.Writer, kv ...string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(tw, "%s:\t%s\n", kv[i], kv[i+1])
	}
	return tw.Flush()
}

// printJSON writes the API's JSON indented, unchanged otherwise, so -o json
// output is what the API said (scripts can rely on Appendix A's fields).
func printJSON(w io.Writer, raw []byte) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return nil
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return fmt.Errorf("the admin API answered with invalid JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := w.Write(buf.Bytes())
	return err
}
