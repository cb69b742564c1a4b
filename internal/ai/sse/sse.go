// Package sse reads Server-Sent Events as the AI providers send them.
//
// It is written for the streams in ai-wire-formats.md §2 rather than for
// browsers: OpenAI and Gemini send `data:` frames, Anthropic `event:` +
// `data:` frames. What a provider stream really looks like on the wire is
// what this reader must survive: `\r\n` line endings, a frame split at any
// byte across TCP reads, `field:value` with or without the space, comment
// lines (`: keep-alive`), and single lines far above bufio's 64 KiB (a 1 MB
// base64 image in a chunk). Lines above the configured maximum are an error
// rather than unbounded memory.
package sse

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxLine bounds one line (and one event's data): 16 MiB.
const DefaultMaxLine = 16 << 20

// ErrLineTooLong is returned when a line or an event's data exceeds the
// reader's maximum.
var ErrLineTooLong = errors.New("sse: line too long")

// Event is one dispatched event. Data is only valid until the next call to
// Next: the reader reuses its buffers so a long stream allocates nothing per
// event.
type Event struct {
	// Name is the `event:` field ("" when absent, which SSE calls "message").
	Name string
	// Data is the `data:` lines joined by "\n".
	Data []byte
}

// Reader reads events from a stream.
type Reader struct {
	br      *bufio.Reader
	max     int
	line    []byte // spill buffer for lines longer than the bufio buffer
	data    []byte
	name    []byte
	hasData bool
}

// NewReader returns a reader; maxLine ≤ 0 means DefaultMaxLine.
func NewReader(r io.Reader, maxLine int) *Reader {
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	return &Reader{br: bufio.NewReaderSize(r, 32<<10), max: maxLine}
}

// Next returns the next event. At the end of the stream it returns io.EOF;
// an event whose blank line never came but whose data is complete up to a
// clean EOF is still dispatched (Gemini and some OpenAI-compatible servers
// end the body right after the last frame). Any other read error is
// returned as is, wrapped.
func (r *Reader) Next() (Event, error) {
	r.data = r.data[:0]
	r.name = r.name[:0]
	r.hasData = false
	for {
		line, err := r.readLine()
		if err != nil {
			if errors.Is(err, io.EOF) && r.hasData {
				return Event{Name: string(r.name), Data: r.data}, nil
			}
			return Event{}, err
		}
		if len(line) == 0 {
			if !r.hasData {
				// A blank line after only comments or an event name:
				// nothing to dispatch (SSE §9.2.6).
				r.name = r.name[:0]
				continue
			}
			return Event{Name: string(r.name), Data: r.data}, nil
		}
		if line[0] == ':' {
			continue // comment, e.g. ": keep-alive"
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "data":
			if r.hasData {
				r.data = append(r.data, '\n')
			}
			if len(r.data)+len(value) > r.max {
				return Event{}, ErrLineTooLong
			}
			r.data = append(r.data, value...)
			r.hasData = true
		case "event":
			r.name = append(r.name[:0], value...)
		}
		// id and retry are not used by any provider stream; ignored.
	}
}

// readLine returns one line without its terminator (\n or \r\n). The slice
// is valid until the next call.
func (r *Reader) readLine() ([]byte, error) {
	r.line = r.line[:0]
	for {
		frag, err := r.br.ReadSlice('\n')
		if err == nil {
			if len(r.line) == 0 {
				return trimEOL(frag), nil
			}
			r.line = append(r.line, frag...)
			return trimEOL(r.line), nil
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			if len(r.line)+len(frag) > r.max {
				return nil, ErrLineTooLong
			}
			r.line = append(r.line, frag...)
			continue
		}
		// EOF or a read error: a final line without terminator counts
		// only on a clean EOF.
		if errors.Is(err, io.EOF) {
			r.line = append(r.line, frag...)
			if len(r.line) > 0 {
				l := trimEOL(r.line)
				if len(l) > 0 {
					// Process it as a line; the EOF surfaces on the next call.
					return l, nil
				}
			}
			return nil, io.EOF
		}
		return nil, fmt.Errorf("sse: read: %w", err)
	}
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}
