package ai

import (
	"math"
	"testing"
)

func TestParseMicros(t *testing.T) {
	cases := []struct {
		in   string
		want Micros
		ok   bool
	}{
		{"0.15", 150_000, true},
		{"0.075", 75_000, true},
		{"0.60", 600_000, true},
		{"2", 2_000_000, true},
		{"1.250000", 1_250_000, true},
		{"0.000001", 1, true},
		{"0", 0, true},
		{"75.00", 75_000_000, true},
		{"9223372036853", 9_223_372_036_853_000_000, true},
		{"", 0, false},
		{"-1", 0, false},
		{"+1", 0, false},
		{"1e3", 0, false},
		{"0.0000001", 0, false}, // below a micro-unit: refused, never rounded
		{".5", 0, false},
		{"5.", 0, false},
		{"1,5", 0, false},
		{" 1", 0, false},
		{"abc", 0, false},
		{"99999999999999999999", 0, false},
		{"9223372036855", 0, false}, // would overflow int64 micro-units
	}
	for _, tc := range cases {
		got, err := ParseMicros(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseMicros(%q) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestMicrosString(t *testing.T) {
	for m, want := range map[Micros]string{0: "0.000000", 150_000: "0.150000", 1_000_001: "1.000001", -1: "-0.000001", 12_345_678_900: "12345.678900"} {
		if got := m.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int64(m), got, want)
		}
		if m >= 0 {
			if back, err := ParseMicros(want); err != nil || back != m {
				t.Errorf("round trip of %q: %d %v", want, back, err)
			}
		}
	}
}

func TestParsePrice(t *testing.T) {
	p, err := ParsePrice("0.15", "", "0.60")
	if err != nil || p != (Price{InputPer1M: 150_000, CachedInputPer1M: 150_000, OutputPer1M: 600_000}) {
		t.Errorf("empty cached price: %+v %v (want the input price)", p, err)
	}
	p, err = ParsePrice("0.15", "0.075", "0.60")
	if err != nil || p.CachedInputPer1M != 75_000 {
		t.Errorf("%+v %v", p, err)
	}
	for _, bad := range [][3]string{{"x", "", "1"}, {"1", "-1", "1"}, {"1", "", ""}} {
		if _, err := ParsePrice(bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("ParsePrice%v accepted", bad)
		}
	}
}

// TestCost: exact integer arithmetic, rounded half-up once at the end.
func TestCost(t *testing.T) {
	mini := Price{InputPer1M: 150_000, CachedInputPer1M: 75_000, OutputPer1M: 600_000} // gpt-4o-mini
	cases := []struct {
		name  string
		price Price
		u     Usage
		want  Micros
	}{
		{"nothing", mini, Usage{}, 0},
		{"1 input token is 0.15 µ: rounds to 0", mini, Usage{PromptTokens: 1}, 0},
		{"4 input tokens are 0.6 µ: rounds to 1", mini, Usage{PromptTokens: 4}, 1},
		{"exactly half rounds up", Price{InputPer1M: 500_000}, Usage{PromptTokens: 1}, 1},
		{"just below half rounds down", Price{InputPer1M: 499_999}, Usage{PromptTokens: 1}, 0},
		{"classes are summed before rounding (0.3 + 0.3 = 0.6 → 1, not 0 + 0)", Price{InputPer1M: 300_000, OutputPer1M: 300_000},
			Usage{PromptTokens: 1, CompletionTokens: 1}, 1},
		{"cached tokens at the cached price", mini, Usage{PromptTokens: 1_000_000, CachedPromptTokens: 400_000, CompletionTokens: 1_000_000},
			// 600k × 0.15 + 400k × 0.075 + 1M × 0.60 = 0.09 + 0.03 + 0.60 = $0.72
			720_000},
		{"cache writes at the input price when unset", Price{InputPer1M: 3_000_000, CachedInputPer1M: 300_000, OutputPer1M: 15_000_000},
			Usage{PromptTokens: 3003, CachedPromptTokens: 1000, CacheWriteTokens: 2000, CompletionTokens: 1},
			// 3 × 3 + 1000 × 0.3 + 2000 × 3 + 15 = 9 + 300 + 6000 + 15 = 6324
			6324},
		{"cache writes at their own price", Price{InputPer1M: 3_000_000, CachedInputPer1M: 300_000, OutputPer1M: 15_000_000, CacheWritePer1M: 3_750_000},
			Usage{PromptTokens: 2000, CacheWriteTokens: 2000}, 7500},
		{"a million calls' worth in one go stays exact", mini, Usage{PromptTokens: 13_000_000, CompletionTokens: 12_000_000},
			// 13M × 0.15 + 12M × 0.60 = 1.95 + 7.20 = $9.15
			9_150_000},
		{"beyond int64 products (128-bit intermediate)", Price{InputPer1M: 1_000_000_000}, Usage{PromptTokens: 1_000_000_000_000},
			// 1e12 tokens at $1000/1M = $1e9 = 1e15 µ
			1_000_000_000_000_000},
		{"saturates instead of wrapping", Price{InputPer1M: math.MaxInt64}, Usage{PromptTokens: math.MaxInt64}, math.MaxInt64},
		{"negative counts are zero", mini, Usage{PromptTokens: -5, CompletionTokens: -1}, 0},
		{"cached above prompt does not go negative", mini, Usage{PromptTokens: 10, CachedPromptTokens: 20}, 2}, // 20 × 0.075 = 1.5 → 2
	}
	for _, tc := range cases {
		if got := tc.price.Cost(tc.u); got != tc.want {
			t.Errorf("%s: Cost = %d µ, want %d µ", tc.name, got, tc.want)
		}
	}
}

func TestEstimateTokens(t *testing.T) {
	for s, want := range map[string]int64{"": 0, "a": 1, "abcd": 1, "abcde": 2, "Say hello": 3, "ünïc": 1, "日本語です": 2} {
		if got := EstimateTokens(s); got != want {
			t.Errorf("EstimateTokens(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestDefaultPrices(t *testing.T) {
	for _, m := range []string{"gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o3-mini",
		"text-embedding-3-small", "text-embedding-3-large", "claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1", "gemini-2.0-flash"} {
		p, ok := DefaultPrice(m)
		if !ok || p.InputPer1M <= 0 || p.CachedInputPer1M > p.InputPer1M || (p.CacheWritePer1M != 0 && p.CacheWritePer1M < p.InputPer1M) {
			t.Errorf("%s: %+v %v", m, p, ok)
		}
	}
	if p, _ := DefaultPrice("gpt-4o-mini"); p != (Price{InputPer1M: 150_000, CachedInputPer1M: 75_000, OutputPer1M: 600_000}) {
		t.Errorf("gpt-4o-mini %+v", p)
	}
	if _, ok := DefaultPrice("gpt-4o-2024-08-06"); ok {
		t.Error("a dated variant got a default price")
	}
}
