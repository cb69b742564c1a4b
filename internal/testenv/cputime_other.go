//go:build !unix

package testenv

import (
	"errors"
	"time"
)

// CPUTime is not measured here (getrusage is Unix's).
func CPUTime() (time.Duration, error) {
	return 0, errors.New("testenv: CPU time is measured on Unix only")
}
