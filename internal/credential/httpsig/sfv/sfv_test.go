package sfv

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// TestDictionary checks parse → canonical serialization against RFC 8941
// examples and edge cases (valid ones re-serialize to want; invalid ones
// fail with an error containing errHas).
func TestDictionary(t *testing.T) {
	cases := []struct {
		desc, in, want, errHas string
	}{
		{desc: "RFC 8941 §3.2 example", in: `en="Applepie", da=:w4ZibGV0w6ZydGUK:`, want: `en="Applepie", da=:w4ZibGV0w6ZydGUK:`},
		{desc: "boolean true members omit the value", in: `a=?0, b, c; foo=bar`, want: `a=?0, b, c;foo=bar`},
		{desc: "inner list member", in: `rating=1.5, feelings=(joy sadness)`, want: `rating=1.5, feelings=(joy sadness)`},
		{desc: "signature input", in: `sig1=("@method" "@authority");created=1618884473;keyid="k"`, want: `sig1=("@method" "@authority");created=1618884473;keyid="k"`},
		{desc: "tabs around the comma are OWS", in: "a=1\t,\tb=2", want: `a=1, b=2`},
		{desc: "leading spaces are discarded", in: "   a=1", want: `a=1`},
		{desc: "extra spaces inside inner list", in: `a=(  1   2  )`, want: `a=(1 2)`},
		{desc: "decimal normalised", in: `a=1.500, b=-0.05`, want: `a=1.5, b=-0.05`},
		{desc: "escapes kept", in: `a="q\"b\\s"`, want: `a="q\"b\\s"`},
		{desc: "unpadded base64 accepted", in: `a=:YWJj:, b=:YWI:`, want: `a=:YWJj:, b=:YWI=:`},
		{desc: "duplicate key overwrites in place", in: `a=1, b=2, a=3`, want: `a=3, b=2`},
		{desc: "empty", in: ``, want: ``},
		{desc: "empty inner list", in: `a=()`, want: `a=()`},
		{desc: "token with colon and slash", in: `a=foo:bar/baz`, want: `a=foo:bar/baz`},
		{desc: "max integer", in: `a=999999999999999`, want: `a=999999999999999`},

		{desc: "trailing comma", in: `a=1,`, errHas: "trailing ','"},
		{desc: "upper-case key", in: `A=1`, errHas: "lower case"},
		{desc: "missing comma", in: `a=1 b=2`, errHas: "expected ','"},
		{desc: "unclosed inner list", in: `a=(1 2`, errHas: "missing ')'"},
		{desc: "comma inside inner list", in: `a=(1,2)`, errHas: "after an inner-list item"},
		{desc: "unclosed string", in: `a="abc`, errHas: "missing '\"'"},
		{desc: "bad escape", in: `a="a\b"`, errHas: "escapes"},
		{desc: "non-ASCII in string", in: "a=\"caf\xc3\xa9\"", errHas: "non-ASCII"},
		{desc: "tab in string", in: "a=\"a\tb\"", errHas: "a tab is not allowed"},
		{desc: "NUL in string", in: "a=\"a\x00b\"", errHas: "control character 0x00"},
		{desc: "base64url byte sequence", in: `a=:ab-_:`, errHas: "base64url"},
		{desc: "bad base64 char", in: `a=:ab*c:`, errHas: "not a base64"},
		{desc: "unclosed byte sequence", in: `a=:YWJj`, errHas: "missing ':'"},
		{desc: "wrong padding", in: `a=:YW===:`, errHas: "padding"},
		{desc: "data after padding", in: `a=:YQ==YQ==:`, errHas: "after '='"},
		{desc: "16-digit integer", in: `a=1234567890123456`, errHas: "15 digits"},
		{desc: "4 fractional digits", in: `a=1.2345`, errHas: "3 fractional"},
		{desc: "13 integer digits in a decimal", in: `a=1234567890123.1`, errHas: "12 integer"},
		{desc: "decimal without fraction", in: `a=1.`, errHas: "digit after '.'"},
		{desc: "lone minus", in: `a=-`, errHas: "digit after '-'"},
		{desc: "bad boolean", in: `a=?2`, errHas: "?0 or ?1"},
		{desc: "RFC 9651 date refused", in: `a=@1659578233`, errHas: "RFC 9651"},
		{desc: "RFC 9651 display string refused", in: `a=%"x"`, errHas: "RFC 9651"},
		{desc: "missing value after =", in: `a=`, errHas: "expected a value"},
		{desc: "parameter without key", in: `a=1;`, errHas: "expected a key"},
		{desc: "key starting with a digit", in: `1a=1`, errHas: "expected a key"},
		{desc: "trailing garbage after inner list", in: `a=(1)x`, errHas: "expected ','"},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			d, err := ParseDictionary(c.in)
			if c.errHas != "" {
				if err == nil {
					t.Fatalf("ParseDictionary(%q) succeeded, want error containing %q", c.in, c.errHas)
				}
				if !strings.Contains(err.Error(), c.errHas) {
					t.Fatalf("error %q does not contain %q", err, c.errHas)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseDictionary(%q): %v", c.in, err)
			}
			if got := string(AppendDictionary(nil, &d)); got != c.want {
				t.Fatalf("serialized %q, want %q", got, c.want)
			}
		})
	}
}

func TestDuplicateReported(t *testing.T) {
	d, err := ParseDictionary(`sig1=:YQ==:, sig2=:Yg==:, sig1=:Yw==:`)
	if err != nil {
		t.Fatal(err)
	}
	if d.Duplicate != "sig1" {
		t.Fatalf("Duplicate = %q, want sig1", d.Duplicate)
	}
	m, _ := d.Get("sig1")
	if string(m.Item.Value.Bytes) != "c" {
		t.Fatalf("sig1 = %q, want the last value c", m.Item.Value.Bytes)
	}
}

func TestListAndItem(t *testing.T) {
	cases := []struct {
		desc, in, want, errHas string
		item                   bool
	}{
		{desc: "list of tokens and inner list", in: `sugar, tea, (rum cola);x=1`, want: `sugar, tea, (rum cola);x=1`},
		{desc: "item with params", in: ` "abc";a=1;b `, want: `"abc";a=1;b`, item: true},
		{desc: "integer item", in: `-42`, want: `-42`, item: true},
		{desc: "item trailing garbage", in: `1 2`, errHas: "after the item", item: true},
		{desc: "list trailing comma", in: `a, b,`, errHas: "trailing ','"},
	}
	for _, c := range cases {
		t.Run(c.desc, func(t *testing.T) {
			var got string
			var err error
			if c.item {
				var it Item
				it, err = ParseItem(c.in)
				got = string(AppendItem(nil, it))
			} else {
				var l List
				l, err = ParseList(c.in)
				got = string(AppendList(nil, l))
			}
			if c.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), c.errHas) {
					t.Fatalf("err = %v, want one containing %q", err, c.errHas)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %q, %v; want %q", got, err, c.want)
			}
		})
	}
}

func TestParseInnerList(t *testing.T) {
	m, err := ParseInnerList(`("@query-param";name="Pet" "date");created=1;keyid="a\"b"`)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Inner) != 2 || m.Inner[0].Value.Str != "@query-param" {
		t.Fatalf("items %+v", m.Inner)
	}
	if v, _ := m.Inner[0].Params.Get("name"); v.Str != "Pet" {
		t.Fatalf("name param %+v", v)
	}
	if v, _ := m.Params.Get("keyid"); v.Str != `a"b` {
		t.Fatalf("keyid %q", v.Str)
	}
	if _, err := ParseInnerList(`"a"`); err == nil {
		t.Fatal("an item is not an inner list")
	}
}

// FuzzParseDictionary: parsing never panics, and whatever parses
// serializes to a canonical form that parses back to the same form.
func FuzzParseDictionary(f *testing.F) {
	for _, s := range []string{
		`sig1=("@method" "@authority");created=1618884473;keyid="k"`,
		`sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:`,
		`a=1.5, b, c;d=?0, e=(f "g" :aGk=:);h=-3`,
		`a="\\\""`, `a=(`, `a=:`, "a=\"\x00", `*=*`,
	} {
		f.Add(s)
	}
	// A scratch that has served other parses (and is never reset here):
	// parsing with it must give what a fresh parse gives.
	var sc Scratch
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDictionary(s)
		dw, errw := ParseDictionaryWith(s, &sc)
		if (err == nil) != (errw == nil) || err == nil && !reflect.DeepEqual(d, dw) {
			t.Fatalf("%q: with a used scratch %+v, %v; fresh %+v, %v", s, dw, errw, d, err)
		}
		if len(sc.params) > 1<<12 {
			sc.Reset()
		}
		if err != nil {
			return
		}
		out := AppendDictionary(nil, &d)
		d2, err := ParseDictionary(string(out))
		if err != nil {
			t.Fatalf("re-parse of %q (from %q): %v", out, s, err)
		}
		if out2 := AppendDictionary(nil, &d2); !bytes.Equal(out, out2) {
			t.Fatalf("not canonical: %q then %q", out, out2)
		}
	})
}

const sigInput = `sig1=("@method" "@authority" "@path" "content-digest");created=1618884473;keyid="test-key";nonce="b3k2pp5k7z-50gnwp.yemd"`

func BenchmarkParseSignatureInput(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseDictionary(sigInput); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseSignatureInputWith: the same with a scratch reset after
// each parse, as the verifier does per request.
func BenchmarkParseSignatureInputWith(b *testing.B) {
	var sc Scratch
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseDictionaryWith(sigInput, &sc); err != nil {
			b.Fatal(err)
		}
		sc.Reset()
	}
}

// Values parsed with one scratch stay as they were while later parses
// use it; an append to a returned slice copies instead of overwriting the
// next value's; and once warm, a parse and a Reset allocate nothing.
func TestScratch(t *testing.T) {
	var sc Scratch
	a, err := ParseDictionaryWith(`a=(1 2);p=1, b=:YWJj:;q`, &sc)
	if err != nil {
		t.Fatal(err)
	}
	want := string(AppendDictionary(nil, &a))
	b, err := ParseDictionaryWith(`c=(3 4 5);r=2, d=:ZGVm:;s`, &sc)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(AppendDictionary(nil, &a)); got != want {
		t.Fatalf("the first value changed when the scratch served a second: %q, want %q", got, want)
	}
	inner, params := a.Members[0].Inner, a.Members[0].Params
	_ = append(inner, Item{Value: BareItem{Kind: Integer, Int: 99}})
	_ = append(params, Param{Key: "x", Value: BareItem{Kind: Integer, Int: 99}})
	_ = append(a.Members, DictMember{Key: "z"})
	if got := string(AppendDictionary(nil, &b)); got != `c=(3 4 5);r=2, d=:ZGVm:;s` {
		t.Fatalf("an append to the first value's slices overwrote the second: %q", got)
	}
	// A large field's storage is not kept.
	big := "a=(" + strings.Repeat("1 ", 500) + "), b=:" + strings.Repeat("YWJj", 1000) + ":"
	if _, err := ParseDictionaryWith(big, &sc); err != nil {
		t.Fatal(err)
	}
	sc.Reset()
	if cap(sc.items) > ScratchKeep || cap(sc.bytes) > scratchKeepBytes {
		t.Fatalf("after a large field the scratch keeps %d items and %d bytes", cap(sc.items), cap(sc.bytes))
	}
	if n := testing.AllocsPerRun(100, func() {
		if _, err := ParseDictionaryWith(sigInput, &sc); err != nil {
			t.Fatal(err)
		}
		sc.Reset()
	}); n != 0 {
		t.Errorf("%.1f allocations per parse with a warm scratch, want 0", n)
	}
}
