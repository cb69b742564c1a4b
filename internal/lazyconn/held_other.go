//go:build !unix

package lazyconn

// canHold: elsewhere Hold does nothing and requests are written the
// ordinary way.
const canHold = false

// sendThenRead is never reached: Hold does not hold.
func (c *Conn) sendThenRead(p []byte) (int, error) {
	held := c.held
	c.held = c.held[:0]
	if _, err := c.io.Write(held); err != nil {
		return 0, err
	}
	return c.io.Read(p)
}
