package server

import (
	"gatehouse/internal/config"
	"gatehouse/internal/credential/basic"
)

// basicLockout maps basic_auth to the Basic verifier's options. In the
// file a threshold of 0 turns that counter off; in basic.Lockout 0 means
// "the default" and a negative value is off.
func basicLockout(c config.BasicAuth) basic.Lockout {
	off := func(n int) int {
		if n == 0 {
			return -1
		}
		return n
	}
	return basic.Lockout{Off: !c.Lockout, MaxUserFailures: off(c.MaxFailuresPerUser), MaxIPFailures: off(c.MaxFailuresPerIP),
		Window: c.FailureWindow.D(), Duration: c.LockoutDuration.D(), MaxTracked: c.MaxTracked}
}
