package main

import (
	"strings"
	"testing"

	"gatehouse/internal/keys"
)

func TestUnknownKeyLike(t *testing.T) {
	live, err := keys.Generate("live")
	if err != nil {
		t.Fatal(err)
	}
	test, err := keys.Generate("test")
	if err != nil {
		t.Fatal(err)
	}
	last := live.Full[len(live.Full)-1]
	typo := live.Full[:len(live.Full)-1] + map[bool]string{true: "1", false: "0"}[last == '0']
	cases := []struct {
		desc    string
		real    string
		wantEnv string
		wantErr bool
	}{
		{"live key gives a live unknown key", live.Full, "live", false},
		{"test key gives a test unknown key", test.Full, "test", false},
		{"issued key with a broken checksum is refused", typo, "", true},
		{"issued key in another shape is refused", "sk-not-a-gatehouse-key", "", true},
		{"empty key is refused", "", "", true},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := unknownKeyLike(tc.real)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("unknownKeyLike(%q) = %q, want an error", tc.real, got)
				}
				if strings.Contains(err.Error(), tc.real) && tc.real != "" {
					t.Errorf("error %q repeats the key", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			p, perr := keys.Parse(got, tc.wantEnv)
			if perr != nil {
				t.Fatalf("unknown key %q does not pass the offline checks: %s", got, perr.Code)
			}
			real, _ := keys.Parse(tc.real, "")
			if p.ID == real.ID {
				t.Errorf("unknown key reuses the real id %q", p.ID)
			}
		})
	}
}
