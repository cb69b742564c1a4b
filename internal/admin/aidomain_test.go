package admin

// Tests of the pure helpers of internal/domain/ai.go (money, prompt
// templates, default prices, budget windows, allow-lists). They live here,
// beside their main user, because internal/domain holds no test files.

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/domain"
)

func TestMicros(t *testing.T) {
	cases := []struct {
		in      string
		want    domain.Micros
		text    string // String() of the result
		wantErr string
	}{
		{"0.15", 150_000, "0.15", ""},
		{"0.075", 75_000, "0.075", ""},
		{"2", 2_000_000, "2", ""},
		{"1.250000", 1_250_000, "1.25", ""},
		{"0", 0, "0", ""},
		{"0.000001", 1, "0.000001", ""},
		{"9223372036853", 9_223_372_036_853_000_000, "9223372036853", ""},
		{"0.0000001", 0, "", "more than 6 decimal places"},
		{"-1", 0, "", "not a plain non-negative decimal"},
		{"1e-3", 0, "", "not a plain non-negative decimal"},
		{".5", 0, "", "digits on both sides"},
		{"5.", 0, "", "digits on both sides"},
		{"", 0, "", "empty amount"},
		{"1,5", 0, "", "not a plain"},
		{"99999999999999999999", 0, "", "too large"},
		{"9223372036854", 0, "", "too large"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := domain.ParseMicros(c.in)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("ParseMicros(%q) = %d, %v; want error %q", c.in, got, err, c.wantErr)
				}
				return
			}
			if err != nil || got != c.want || got.String() != c.text {
				t.Fatalf("ParseMicros(%q) = %d (%s), %v; want %d (%s)", c.in, int64(got), got, err, int64(c.want), c.text)
			}
			// JSON: written as a string, read back from a string or a number literal.
			b, _ := json.Marshal(got)
			var back, fromNumber domain.Micros
			if string(b) != `"`+c.text+`"` || json.Unmarshal(b, &back) != nil || back != got {
				t.Fatalf("JSON round trip: %s -> %d", b, int64(back))
			}
			if err := json.Unmarshal([]byte(c.in), &fromNumber); err != nil || fromNumber != got {
				t.Fatalf("from the number literal %s: %d, %v", c.in, int64(fromNumber), err)
			}
		})
	}
	if s := domain.Micros(-1_500_000).String(); s != "-1.5" {
		t.Errorf("negative amounts render as %q", s)
	}
}

func TestPromptTemplate(t *testing.T) {
	p := domain.Prompt{Template: "Hi {{ name }}, you are {{age}} ({{member}}); score {{score}}. {{name}}! \\{{literal}}",
		Variables: []domain.PromptVariable{{Name: "name", Type: domain.VarString}, {Name: "age", Type: domain.VarInteger},
			{Name: "member", Type: domain.VarBoolean}, {Name: "score", Type: domain.VarNumber}}}
	if vars, err := domain.TemplateVariables(p.Template); err != nil || strings.Join(vars, ",") != "name,age,member,score" {
		t.Fatalf("TemplateVariables = %v, %v", vars, err)
	}
	// Numbers decoded with UseNumber keep their text.
	var decoded map[string]any
	dec := json.NewDecoder(bytes.NewReader([]byte(`{"name":"Ada","age":36,"member":true,"score":0.1000}`)))
	dec.UseNumber()
	if err := dec.Decode(&decoded); err != nil {
		t.Fatal(err)
	}
	out, err := p.Render(decoded)
	if want := "Hi Ada, you are 36 (true); score 0.1000. Ada! {{literal}}"; err != nil || out != want {
		t.Fatalf("Render = %q, %v; want %q", out, err, want)
	}
	errCases := []struct {
		desc       string
		vars       map[string]any
		name, frag string
	}{
		{"a missing variable is named", map[string]any{"age": 1, "member": true, "score": 1.5}, "name", "is missing"},
		{"null counts as missing", map[string]any{"name": nil, "age": 1, "member": true, "score": 1.5}, "name", "is missing"},
		{"a string for an integer", map[string]any{"name": "a", "age": "36", "member": true, "score": 1.5}, "age", "must be an integer, got a string"},
		{"a fraction for an integer", map[string]any{"name": "a", "age": json.Number("36.5"), "member": true, "score": 1.5}, "age", "must be an integer, got 36.5"},
		{"a number for a boolean", map[string]any{"name": "a", "age": 1, "member": 1, "score": 1.5}, "member", "must be a boolean"},
		{"an object for a string", map[string]any{"name": map[string]any{}, "age": 1, "member": true, "score": 1.5}, "name", "got an object"},
		{"an undeclared variable is named", map[string]any{"name": "a", "age": 1, "member": true, "score": 1.5, "zeta": 1, "extra": 2}, "extra",
			"is not a variable of this prompt"},
	}
	for _, c := range errCases {
		t.Run(c.desc, func(t *testing.T) {
			_, err := p.Render(c.vars)
			var ve *domain.VariableError
			if !errors.As(err, &ve) || ve.Name != c.name || !strings.Contains(err.Error(), c.frag) {
				t.Fatalf("Render error %v; want variable %q %q", err, c.name, c.frag)
			}
		})
	}
	for _, bad := range []string{"{{", "a {{b", "{{1x}}", "{{a b}}", "{{}}"} {
		if _, err := domain.TemplateVariables(bad); err == nil {
			t.Errorf("TemplateVariables(%q) accepted a broken template", bad)
		}
	}
}

func TestDefaultPrices(t *testing.T) {
	for _, name := range domain.DefaultPriceModels() {
		p, ok := domain.DefaultPrice(name)
		if !ok || p.Source != "defaults "+domain.DefaultPricesAsOf || p.InputPer1M <= 0 || p.CachedInputPer1M <= 0 || p.CachedInputPer1M > p.InputPer1M {
			t.Errorf("default price of %s: %+v, %v", name, p, ok)
		}
	}
	cases := []struct {
		model string
		ok    bool
		input domain.Micros
	}{
		{"gpt-4o-mini", true, 150_000},
		{"gpt-4o-mini-2024-07-18", true, 150_000},
		{"gpt-4o-2024-08-06", true, 2_500_000},
		{"claude-3-5-haiku-20241022", true, 800_000},
		{"claude-sonnet-4-20250514", true, 3_000_000},
		{"gemini-2.5-flash", true, 300_000},
		{"gpt-4o-audio-preview", false, 0}, // a different product, not a dated version
		{"gpt-4", false, 0},
		{"llama3:8b", false, 0},
	}
	for _, c := range cases {
		p, ok := domain.DefaultPrice(c.model)
		if ok != c.ok || p.InputPer1M != c.input {
			t.Errorf("DefaultPrice(%q) = %d, %v; want %d, %v", c.model, int64(p.InputPer1M), ok, int64(c.input), c.ok)
		}
	}
}

func TestBudgetWindowAndAllowList(t *testing.T) {
	at := time.Date(2026, 12, 31, 23, 59, 0, 0, time.FixedZone("X", 3*3600)) // 20:59 UTC
	cases := []struct {
		period     string
		start, end time.Time
	}{
		{domain.BudgetPeriodDay, time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{domain.BudgetPeriodMonth, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, c := range cases {
		s, e := domain.Budget{Period: c.period}.Window(at)
		if !s.Equal(c.start) || !e.Equal(c.end) {
			t.Errorf("%s window of %v: [%v, %v), want [%v, %v)", c.period, at, s, e, c.start, c.end)
		}
	}
	allow := []struct {
		list []string
		name string
		want bool
	}{
		{nil, "anything", true},
		{[]string{"mini"}, "mini", true},
		{[]string{"mini"}, "mini-2", false},
		{[]string{"gpt-4o*"}, "gpt-4o-mini", true},
		{[]string{"gpt-4o*"}, "gpt-4", false},
		{[]string{"*"}, "x", true},
	}
	for _, c := range allow {
		if got := domain.ModelAllowed(c.list, c.name); got != c.want {
			t.Errorf("ModelAllowed(%v, %q) = %v", c.list, c.name, got)
		}
	}
}
