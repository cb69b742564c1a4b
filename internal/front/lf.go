package front

import "errors"

// Heads ended by a bare LF.
//
// RFC 9112 §2.2: "Although the line terminator for the start-line and
// fields is the sequence CRLF, a recipient MAY recognize a single LF as a
// line terminator and ignore any preceding CR."
//
// fasthttp does not end a head at a blank line unless its buffer holds a
// CRLFCRLF somewhere (headerscanner.go: "a peer that only accepts that
// terminator would frame the stream differently"), so a client that sends
// "GET / HTTP/1.1\nHost: a\n\n" and waits got nothing until the read
// timeout, then a 408. Accepting the head would take a parser of our own
// in front of fasthttp's; the listener refuses it instead, at once, as
// the MAY allows, with the 400 every malformed head gets.
//
// The check sits in the connection's Read because that is where the wait
// happens: fasthttp's head loop asks its bufio.Reader for one byte more
// than it holds, and the reader asks the connection for len(buf)-buffered
// bytes. So a Read for fewer than ReadBufferSize bytes, while no handler
// runs, is fasthttp waiting for more of a head it holds the rest of (a
// fixed-length body read before the handler runs reads with an empty
// buffer: a full-size Read; a chunked or large body is read by the
// handler). If the bytes the connection last handed on end that held head
// with a blank line that is not CRLFCRLF, no more are coming: the Read
// fails with errBareLF, and fasthttp's error handler refuses the request.

// errBareLF is what the Read returns for such a head; fasthttp wraps it
// into its header error, which the error handler answers with 400.
var errBareLF = errors.New("the request head ends with a bare LF line terminator; end its lines with CRLF (RFC 9112 §2.2)")

// lfTail follows the last bytes a connection handed to fasthttp.
// Touched only by the goroutine reading the connection.
type lfTail struct {
	last4 uint32 // the last four bytes read, the latest in the low byte
	total int64  // bytes read
	text  int64  // 1 + the offset of the last byte that is not CR or LF
}

// saw records bytes handed to fasthttp. It looks only at their end (it
// runs on every read of the fast listener): the last four bytes, and the
// last byte that is not CR or LF, found from the end.
func (t *lfTail) saw(b []byte) {
	for _, c := range b[max(len(b)-4, 0):] {
		t.last4 = t.last4<<8 | uint32(c)
	}
	for i := len(b) - 1; i >= 0; i-- {
		if c := b[i]; c != '\r' && c != '\n' {
			t.text = t.total + int64(i) + 1
			break
		}
	}
	t.total += int64(len(b))
}

// headEnded reports whether the last buffered bytes of the stream (the
// buffered part of a head fasthttp waits to complete) end it with a blank
// line that is not CRLFCRLF ("\n\n", "\r\n\n" or "\n\r\n" after a line
// ended by a bare LF), with a request line or field before it: a client
// that sent only empty lines is still to send its request.
func (t *lfTail) headEnded(buffered int) bool {
	if buffered < 2 || t.text <= t.total-int64(buffered) {
		return false
	}
	const crlfcrlf = '\r'<<24 | '\n'<<16 | '\r'<<8 | '\n'
	switch {
	case t.last4&0xffff == '\n'<<8|'\n':
		return true
	case t.last4&0xffffff == '\n'<<16|'\r'<<8|'\n':
		return t.last4 != crlfcrlf
	}
	return false
}
