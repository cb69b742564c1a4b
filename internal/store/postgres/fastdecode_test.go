package postgres

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestDecLabels: the fast path and encoding/json agree on what the encoder
// writes and on everything else.
func TestDecLabels(t *testing.T) {
	cases := []struct {
		desc string
		in   map[string]string
		raw  string // used when in is nil and raw is set
	}{
		{"nil", nil, ""},
		{"empty", map[string]string{}, ""},
		{"one", map[string]string{"team": "web"}, ""},
		{"several, values with : and ,", map[string]string{"a": "x:y", "b": "1,2", "c": "", "": "empty key"}, ""},
		{"escapes (HTML, quotes, backslash) take encoding/json", map[string]string{"q": `say "hi"`, "h": "<b>&", "s": `a\b`}, ""},
		{"non-ASCII", map[string]string{"équipe": "café ☕"}, ""},
		{"control character", map[string]string{"nl": "a\nb"}, ""},
		{"white space (not the encoder's) takes encoding/json", nil, `{ "a" : "b" }`},
		{"duplicate key: the last wins, as encoding/json", nil, `{"a":"1","a":"2"}`},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			raw := tc.raw
			if raw == "" {
				b, err := json.Marshal(tc.in)
				if err != nil {
					t.Fatal(err)
				}
				raw = string(b)
			}
			var want map[string]string
			if err := json.Unmarshal([]byte(raw), &want); err != nil {
				t.Fatal(err)
			}
			for _, in := range []interner{nil, {}} {
				got, err := decLabels([]byte(raw), in)
				if err != nil || !reflect.DeepEqual(got, want) || (got == nil) != (want == nil) {
					t.Errorf("decLabels(%s) = %#v, %v; want %#v", raw, got, err, want)
				}
			}
		})
	}
	for _, bad := range []string{`{"a":}`, `{"a":"b"`, `{"a":1}`, `["a"]`, ``} {
		if _, err := decLabels([]byte(bad), nil); err == nil {
			t.Errorf("decLabels(%q) accepted malformed input", bad)
		}
	}
}

// FuzzDecLabels: whenever encoding/json decodes an object of strings,
// decLabels returns the same map.
func FuzzDecLabels(f *testing.F) {
	for _, s := range []string{`{"a":"b"}`, `{"a":"b","c":"d"}`, `{}`, `null`, `{"a":"\u0041"}`, `{"a":"b",}`, `{"a""b"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want map[string]string
		wantErr := json.Unmarshal([]byte(s), &want)
		got, err := decLabels([]byte(s), interner{})
		if wantErr != nil {
			if err == nil {
				t.Fatalf("decLabels(%q) = %v, encoding/json refuses it: %v", s, got, wantErr)
			}
			return
		}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("decLabels(%q) = %#v, %v; encoding/json: %#v", s, got, err, want)
		}
	})
}
