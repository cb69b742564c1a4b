package ai

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
)

// Micros is an amount of money in integer millionths of the currency unit
// ($1.00 = 1_000_000). Money is never a float64 in Gatehouse: prices are
// parsed from decimal text exactly, costs are computed in integers, and a
// rollup of a million calls adds up to the cent (the anchors' users lost
// money to float sums and to costs stored as integer dollars).
type Micros int64

// MicrosPerUnit is one currency unit in Micros.
const MicrosPerUnit Micros = 1_000_000

// ParseMicros parses a non-negative decimal amount such as "0.15", "2",
// "0.075" or "1.250000" exactly. More than six decimal places, signs,
// exponents and anything that is not a plain decimal are refused, so a
// price is never silently rounded on the way in.
func ParseMicros(s string) (Micros, error) {
	if s == "" {
		return 0, errors.New("empty amount")
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" || (hasDot && frac == "") {
		return 0, fmt.Errorf("amount %q: want digits on both sides of the point", s)
	}
	if len(frac) > 6 {
		return 0, fmt.Errorf("amount %q: more than 6 decimal places (the unit is a millionth)", s)
	}
	for _, part := range []string{intPart, frac} {
		for i := 0; i < len(part); i++ {
			if part[i] < '0' || part[i] > '9' {
				return 0, fmt.Errorf("amount %q: not a plain decimal", s)
			}
		}
	}
	whole, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil || whole > math.MaxInt64/int64(MicrosPerUnit)-1 {
		return 0, fmt.Errorf("amount %q: too large", s)
	}
	f := int64(0)
	if frac != "" {
		f, _ = strconv.ParseInt(frac+strings.Repeat("0", 6-len(frac)), 10, 64)
	}
	return Micros(whole*int64(MicrosPerUnit) + f), nil
}

// String renders the amount as a plain decimal with six places ("0.150000").
func (m Micros) String() string {
	neg := m < 0
	u := uint64(m)
	if neg {
		u = uint64(-m)
	}
	s := strconv.FormatUint(u/uint64(MicrosPerUnit), 10) + "." + fmt.Sprintf("%06d", u%uint64(MicrosPerUnit))
	if neg {
		return "-" + s
	}
	return s
}

// Price is what one model costs per million tokens, in Micros (so "0.15"
// dollars per 1M tokens is 150_000).
type Price struct {
	InputPer1M Micros
	// CachedInputPer1M prices prompt tokens read from the provider's cache
	// (OpenAI cached_tokens, Anthropic cache_read_input_tokens, Gemini
	// cachedContentTokenCount). It is used as set, zero included;
	// ParsePrice fills it with the input price when the text is empty.
	CachedInputPer1M Micros
	OutputPer1M      Micros
	// CacheWritePer1M prices Anthropic cache_creation_input_tokens; zero
	// means the input price (Appendix A has no field for it, and no
	// provider writes a cache for free).
	CacheWritePer1M Micros
}

// ParsePrice parses the three decimal prices of Appendix A
// ({"input_per_1m":"0.15","cached_input_per_1m":"0.075","output_per_1m":"0.60"});
// an empty cached price means the input price.
func ParsePrice(input, cachedInput, output string) (Price, error) {
	var p Price
	var err error
	if p.InputPer1M, err = ParseMicros(input); err != nil {
		return Price{}, fmt.Errorf("input_per_1m: %w", err)
	}
	p.CachedInputPer1M = p.InputPer1M
	if cachedInput != "" {
		if p.CachedInputPer1M, err = ParseMicros(cachedInput); err != nil {
			return Price{}, fmt.Errorf("cached_input_per_1m: %w", err)
		}
	}
	if p.OutputPer1M, err = ParseMicros(output); err != nil {
		return Price{}, fmt.Errorf("output_per_1m: %w", err)
	}
	return p, nil
}

// Cost prices a usage exactly.
//
// Rounding, once and only at the end: every token class contributes
// tokens × (Micros per 1M tokens), summed exactly in 128-bit integers;
// the sum is divided by 1 000 000 and rounded half-up to a whole micro-unit.
// So 1 token at $0.15/1M is 0.15 micro-units → 0, 4 tokens are 0.6 → 1, and
// splitting a call into classes never adds a rounding per class.
//
// Token classes: uncached prompt tokens (PromptTokens − CachedPromptTokens −
// CacheWriteTokens) at InputPer1M, CachedPromptTokens at CachedInputPer1M,
// CacheWriteTokens at CacheWritePer1M (or InputPer1M when zero), and
// CompletionTokens (reasoning tokens included, as every provider bills them)
// at OutputPer1M. Negative counts are treated as zero.
func (p Price) Cost(u Usage) Micros {
	cached := max(u.CachedPromptTokens, 0)
	write := max(u.CacheWriteTokens, 0)
	uncached := max(u.PromptTokens-cached-write, 0)
	writePrice := p.CacheWritePer1M
	if writePrice == 0 {
		writePrice = p.InputPer1M
	}
	var hi, lo uint64
	add := func(tokens int64, price Micros) {
		if tokens <= 0 || price <= 0 {
			return
		}
		h, l := bits.Mul64(uint64(tokens), uint64(price))
		var c uint64
		lo, c = bits.Add64(lo, l, 0)
		hi += h + c
	}
	add(uncached, p.InputPer1M)
	add(cached, p.CachedInputPer1M)
	add(write, writePrice)
	add(max(u.CompletionTokens, 0), p.OutputPer1M)
	// Half-up: (sum + 500 000) / 1 000 000.
	var c uint64
	lo, c = bits.Add64(lo, 500_000, 0)
	hi += c
	if hi >= 1_000_000 {
		return Micros(math.MaxInt64) // beyond any real bill; saturate rather than wrap
	}
	q, _ := bits.Div64(hi, lo, 1_000_000)
	if q > math.MaxInt64 {
		return Micros(math.MaxInt64)
	}
	return Micros(q)
}
