//go:build unix

package lazyconn

// canHold: the held write needs a file descriptor for write(2) and read(2).
const canHold = true

// sendThenRead writes the held bytes and reads the answer inside one
// RawConn.Read (rawsock.Exchange): its readiness reset comes before the
// write, so the answer's readiness cannot be lost, and the first read
// happens only once the socket is readable.
func (c *Conn) sendThenRead(p []byte) (int, error) {
	x := &c.x
	x.Out, x.In = c.held, p
	c.held = c.held[:0]
	err := x.Run(c.raw)
	if err != nil {
		// A deadline or a closed connection, perhaps before anything was
		// sent: what was not sent stays held for the next Read.
		c.held = append(c.held[:0], x.Out[x.Wrote:]...)
	}
	n, err := x.Result(err, &c.io)
	x.Out, x.In = nil, nil
	return n, err
}
