//go:build unix

package tracing_test

import (
	"syscall"
	"testing"
	"time"
)

// processCPU is the CPU time the process has used (user + system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds a cpu-ns/op metric: the development VM is shared, so
// wall-clock ns/op includes time other processes held the cores; process
// CPU time does not — and it includes the exporter's background work
// (protobuf, gzip, HTTP), the real cost of a sampled span.
func reportCPU(b *testing.B, start time.Duration) {
	if used := processCPU() - start; used > 0 && b.N > 0 {
		b.ReportMetric(float64(used.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}
