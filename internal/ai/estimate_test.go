package ai

import (
	"strings"
	"testing"
)

// TestEstimatePromptCountsEverythingSent: the reservation's prompt
// estimate counts what the provider bills as input besides message text —
// tool definitions, a response_format schema, images — so a request whose
// schemas dwarf its messages does not reserve too little (the budget's
// "overspend by at most one reservation" rests on reservations never
// undercounting).
func TestEstimatePromptCountsEverythingSent(t *testing.T) {
	schema := `{"type":"object","properties":{` + strings.Repeat(`"field_with_a_long_name":{"type":"string","description":"what it is"},`, 40) + `"x":{"type":"integer"}}}`
	base := `{"model":"m","messages":[{"role":"user","content":"Hi"}]`
	cases := []struct {
		desc string
		body string
		min  int64 // at least base + this much more
	}{
		{"plain text", base + `}`, 0},
		{"a tool definition counts its name, description and parameters",
			base + `,"tools":[{"type":"function","function":{"name":"lookup","description":"Look a thing up","parameters":` + schema + `}}]}`,
			EstimateTokens(schema)},
		{"a response_format schema counts",
			base + `,"response_format":{"type":"json_schema","json_schema":{"name":"out","schema":` + schema + `}}}`,
			EstimateTokens(schema)},
		{"an image at detail high counts its largest tile count",
			`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"Hi"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}`,
			imageHighTokens},
		{"an image at detail low counts 85",
			`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"Hi"},{"type":"image_url","image_url":{"url":"https://x/y.png","detail":"low"}}]}]}`,
			imageLowTokens},
	}
	plain, rerr := parseChat([]byte(base + `}`))
	if rerr != nil {
		t.Fatal(rerr)
	}
	floor := estimatePrompt(plain)
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			req, rerr := parseChat([]byte(c.body))
			if rerr != nil {
				t.Fatal(rerr)
			}
			if got := estimatePrompt(req); got < floor+c.min {
				t.Errorf("estimate %d, want at least %d (text alone %d + %d)", got, floor+c.min, floor, c.min)
			}
		})
	}
}
