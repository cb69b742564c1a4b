package sfv

import (
	"encoding/base64"
	"strconv"
)

// The Append functions serialize (RFC 8941 §4.1) into b and return it.
// They assume the values came from the parser or were built valid; they
// do not re-validate keys, tokens or string characters.

// AppendBareItem appends the serialization of v.
func AppendBareItem(b []byte, v BareItem) []byte {
	switch v.Kind {
	case Integer:
		return strconv.AppendInt(b, v.Int, 10)
	case Decimal:
		n := v.Int
		if n < 0 {
			b = append(b, '-')
			n = -n
		}
		b = strconv.AppendInt(b, n/1000, 10)
		b = append(b, '.')
		f := n % 1000
		switch {
		case f == 0:
			return append(b, '0')
		case f%100 == 0:
			return append(b, byte('0'+f/100))
		case f%10 == 0:
			return append(b, byte('0'+f/100), byte('0'+f/10%10))
		}
		return append(b, byte('0'+f/100), byte('0'+f/10%10), byte('0'+f%10))
	case String:
		b = append(b, '"')
		for i := 0; i < len(v.Str); i++ {
			c := v.Str[i]
			if c == '"' || c == '\\' {
				b = append(b, '\\')
			}
			b = append(b, c)
		}
		return append(b, '"')
	case Token:
		return append(b, v.Str...)
	case ByteSeq:
		b = append(b, ':')
		b = base64.StdEncoding.AppendEncode(b, v.Bytes)
		return append(b, ':')
	case Boolean:
		if v.Bool {
			return append(b, '?', '1')
		}
		return append(b, '?', '0')
	}
	return b
}

// AppendParams appends ";key=value" for each parameter (";key" for true).
func AppendParams(b []byte, ps Params) []byte {
	for _, p := range ps {
		b = append(b, ';')
		b = append(b, p.Key...)
		if p.Value.Kind == Boolean && p.Value.Bool {
			continue
		}
		b = append(b, '=')
		b = AppendBareItem(b, p.Value)
	}
	return b
}

// AppendItem appends an item with its parameters.
func AppendItem(b []byte, it Item) []byte {
	return AppendParams(AppendBareItem(b, it.Value), it.Params)
}

// AppendMember appends an item or an inner list with its parameters.
func AppendMember(b []byte, m *Member) []byte {
	if !m.IsInner {
		return AppendItem(b, m.Item)
	}
	b = append(b, '(')
	for i, it := range m.Inner {
		if i > 0 {
			b = append(b, ' ')
		}
		b = AppendItem(b, it)
	}
	b = append(b, ')')
	return AppendParams(b, m.Params)
}

// AppendDictionary appends a dictionary.
func AppendDictionary(b []byte, d *Dictionary) []byte {
	for i := range d.Members {
		if i > 0 {
			b = append(b, ',', ' ')
		}
		m := &d.Members[i]
		b = append(b, m.Key...)
		if !m.IsInner && m.Item.Value.Kind == Boolean && m.Item.Value.Bool {
			b = AppendParams(b, m.Item.Params)
			continue
		}
		b = append(b, '=')
		b = AppendMember(b, &m.Member)
	}
	return b
}

// AppendList appends a list.
func AppendList(b []byte, l List) []byte {
	for i := range l {
		if i > 0 {
			b = append(b, ',', ' ')
		}
		b = AppendMember(b, &l[i])
	}
	return b
}
