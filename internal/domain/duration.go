package domain

import (
	"encoding/json"
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration that reads and writes Go duration syntax
// ("24h", "1.5s") in JSON and YAML, as the admin API and config use.
type Duration time.Duration

// DurationError is a duration that does not parse. Value is the text, so
// a caller that knows the document can name the field holding it (JSON
// decoding does not say which field a custom unmarshaler failed in).
type DurationError struct {
	Value string
	Err   error
}

func (e *DurationError) Error() string {
	return fmt.Sprintf("duration %q: use Go syntax such as \"30s\" or \"24h\": %v", e.Value, e.Err)
}

func (e *DurationError) Unwrap() error { return e.Err }

// D returns the standard library value.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON accepts a Go duration string or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return &DurationError{Value: s, Err: err}
		}
		*d = Duration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("duration must be a string such as \"30s\"")
	}
	*d = Duration(n)
	return nil
}

// UnmarshalText lets YAML and flags use Go duration syntax.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return &DurationError{Value: string(b), Err: err}
	}
	*d = Duration(v)
	return nil
}

// ValueError is a bad value in a YAML document, with its position, so the
// configuration loader can name the file, line and field.
type ValueError struct {
	Line, Column int
	Err          error
}

func (e *ValueError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *ValueError) Unwrap() error { return e.Err }

// UnmarshalYAML reads Go duration syntax from a YAML scalar; a bad value is
// a *ValueError carrying its line and column (yaml.v3 passes an
// unmarshaler's error on without a position).
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if err := d.UnmarshalText([]byte(n.Value)); err != nil {
		return &ValueError{Line: n.Line, Column: n.Column, Err: err}
	}
	return nil
}

// MarshalText writes Go duration syntax.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalJSON accepts "http://host:port" (weight 1) or {"url","weight"}.
func (t *Target) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*t = Target{URL: s, Weight: 1}
		return nil
	}
	type plain Target
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("target must be a URL string or {\"url\":…,\"weight\":…}")
	}
	if p.Weight == 0 {
		p.Weight = 1
	}
	*t = Target(p)
	return nil
}
