package ai

// DefaultPrice is the shipped list price of a provider model (USD per 1M
// tokens, as the providers published them in 2025), used when the
// catalogue's configuration sets none; configuration always wins. Only
// exact provider model names are known: a dated or fine-tuned variant must
// be priced in the configuration. The prices are decimal text parsed by
// ParsePrice, the same exact path as configured prices.
func DefaultPrice(providerModel string) (Price, bool) {
	var in, cached, out, write string
	switch providerModel {
	case "gpt-4o":
		in, cached, out = "2.50", "1.25", "10.00"
	case "gpt-4o-mini":
		in, cached, out = "0.15", "0.075", "0.60"
	case "gpt-4.1":
		in, cached, out = "2.00", "0.50", "8.00"
	case "gpt-4.1-mini":
		in, cached, out = "0.40", "0.10", "1.60"
	case "gpt-4.1-nano":
		in, cached, out = "0.10", "0.025", "0.40"
	case "o3-mini":
		in, cached, out = "1.10", "0.55", "4.40"
	case "text-embedding-3-small":
		in, out = "0.02", "0"
	case "text-embedding-3-large":
		in, out = "0.13", "0"
	case "claude-sonnet-4-5":
		in, cached, out, write = "3.00", "0.30", "15.00", "3.75"
	case "claude-haiku-4-5":
		in, cached, out, write = "1.00", "0.10", "5.00", "1.25"
	case "claude-opus-4-1":
		in, cached, out, write = "15.00", "1.50", "75.00", "18.75"
	case "gemini-2.0-flash":
		in, cached, out = "0.10", "0.025", "0.40"
	default:
		return Price{}, false
	}
	p, err := ParsePrice(in, cached, out)
	if err != nil {
		return Price{}, false // a typo above; TestDefaultPrices keeps the table clean
	}
	if write != "" {
		if p.CacheWritePer1M, err = ParseMicros(write); err != nil {
			return Price{}, false
		}
	}
	return p, true
}
