package reqid

import (
	"testing"
	"time"
)

func TestTimeRoundTrip(t *testing.T) {
	for _, at := range []time.Time{
		time.UnixMilli(0),
		time.Date(2026, 11, 27, 7, 45, 12, 345_678_901, time.UTC),
		time.UnixMilli(1<<48 - 1),
	} {
		id := New(at)
		got, ok := Time(id)
		if !ok || !got.Equal(at.Truncate(time.Millisecond)) {
			t.Errorf("Time(New(%v)) = %v, %v; want %v", at, got, ok, at.Truncate(time.Millisecond))
		}
	}
}

func TestTimeRejectsNonIDs(t *testing.T) {
	for _, s := range []string{"", "req_full", "01JBENCH000000000001", "8ZZZZZZZZZZZZZZZZZZZZZZZZZ", "01JD3V0000000000000000000u"} {
		if _, ok := Time(s); ok {
			t.Errorf("Time(%q) ok, want not a request ID", s)
		}
	}
}
