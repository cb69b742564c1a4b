package sse

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

type ev struct{ name, data string }

func readAll(t *testing.T, r io.Reader, max int) ([]ev, error) {
	t.Helper()
	rd := NewReader(r, max)
	var out []ev
	for {
		e, err := rd.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, err
		}
		out = append(out, ev{e.Name, string(e.Data)})
	}
}

func TestReader(t *testing.T) {
	big := strings.Repeat("b", 1<<20)
	cases := []struct {
		name string
		in   string
		want []ev
	}{
		{"openai frames", "data: {\"a\":1}\n\ndata: [DONE]\n\n", []ev{{"", `{"a":1}`}, {"", "[DONE]"}}},
		{"anthropic events", "event: message_start\ndata: {}\n\nevent: ping\ndata: {\"type\": \"ping\"}\n\n", []ev{{"message_start", "{}"}, {"ping", `{"type": "ping"}`}}},
		{"CRLF", "event: x\r\ndata: 1\r\n\r\ndata: 2\r\n\r\n", []ev{{"x", "1"}, {"", "2"}}},
		{"no space after the colon", "event:x\ndata:1\n\n", []ev{{"x", "1"}}},
		{"comments and keep-alives", ": keep-alive\n\n: hi\ndata: 1\n\n", []ev{{"", "1"}}},
		{"multi-line data", "data: a\ndata: b\n\n", []ev{{"", "a\nb"}}},
		{"event name does not leak into the next event", "event: x\n\ndata: 1\n\n", []ev{{"", "1"}}},
		{"unknown fields ignored", "id: 7\nretry: 10\ndata: 1\n\n", []ev{{"", "1"}}},
		{"last event without blank line at clean EOF", "data: 1\n\ndata: 2", []ev{{"", "1"}, {"", "2"}}},
		{"1 MB line", "data: " + big + "\n\ndata: end\n\n", []ev{{"", big}, {"", "end"}}},
		{"empty data line", "data:\n\n", []ev{{"", ""}}},
	}
	for _, tc := range cases {
		for _, split := range []bool{false, true} {
			var r io.Reader = strings.NewReader(tc.in)
			if split {
				r = iotest.OneByteReader(r) // every frame split at every byte
			}
			got, err := readAll(t, r, 0)
			if err != nil {
				t.Errorf("%s (split %v): %v", tc.name, split, err)
				continue
			}
			if len(got) != len(tc.want) {
				t.Errorf("%s (split %v): %d events, want %d", tc.name, split, len(got), len(tc.want))
				continue
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("%s (split %v): event %d = %.60q, want %.60q", tc.name, split, i, got[i], tc.want[i])
				}
			}
		}
	}
}

func TestReaderLimitsAndErrors(t *testing.T) {
	if _, err := readAll(t, strings.NewReader("data: "+strings.Repeat("x", 100)+"\n\n"), 50); !errors.Is(err, ErrLineTooLong) {
		t.Errorf("long line: %v", err)
	}
	if _, err := readAll(t, strings.NewReader(strings.Repeat("data: xxxxxxxxxx\n", 10)+"\n"), 50); !errors.Is(err, ErrLineTooLong) {
		t.Errorf("long event: %v", err)
	}
	boom := errors.New("connection reset")
	got, err := readAll(t, io.MultiReader(strings.NewReader("data: 1\n\ndata: 2"), iotest.ErrReader(boom)), 0)
	if !errors.Is(err, boom) || len(got) != 1 {
		t.Errorf("read error: %v after %d events (a partial event must not be dispatched)", err, len(got))
	}
}

func FuzzReader(f *testing.F) {
	for _, s := range []string{"data: 1\n\n", "event: x\r\ndata: {}\r\n\r\n", ": c\n\ndata:a\ndata:b\n\n", "data: 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rd := NewReader(strings.NewReader(s), 1024)
		for range len(s) + 2 {
			e, err := rd.Next()
			if err != nil {
				return
			}
			if len(e.Data) > 1024 {
				t.Fatalf("data of %d bytes beyond the limit", len(e.Data))
			}
		}
		t.Fatal("more events than input bytes")
	})
}
