package main

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// gcHeadroom is the heap growth the garbage collector is allowed beyond the
// live heap while that is small: GOGC = 100 × gcHeadroom / live, between
// 100 (Go's default) and gcMaxPercent.
//
// Why: a proxied request allocates about half a kilobyte, and with Go's
// default GOGC=100 over a gateway's small live heap (tens of MB) the
// collector runs several times a second; on one CPU each mark phase delays
// the requests in flight, the largest source of tail latency left.
// Measured pinned to one CPU, one P, paced at 12 700 requests/s (half the
// peak; bench/cmd/paced, three runs each, 2026-11-27): p99 3.5 / 3.8 /
// 2.9 ms with GOGC=100 against 2.6 / 2.8 / 2.9 ms with 400, nginx at the
// same rate 2.1 / 2.1 / 2.3 ms. A fixed 400 would let a large live heap
// (a million keys is ~115 MB) grow to five times its size, hence the
// headroom: small heaps get 400, heaps past gcHeadroom get the default.
const (
	gcHeadroom   = 128 << 20
	gcMaxPercent = 400
)

// gcPercent is the GOGC value for a live heap of live bytes.
func gcPercent(live uint64) int {
	if live == 0 {
		return gcMaxPercent
	}
	p := int(100 * uint64(gcHeadroom) / live)
	return min(max(p, 100), gcMaxPercent)
}

// tuneGC sets GOGC from the live heap every few seconds until ctx ends,
// unless GOGC is set in the environment (env).
func tuneGC(ctx context.Context, env string) {
	if env != "" {
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	set := -1
	apply := func() {
		metrics.Read(sample)
		var live uint64
		if sample[0].Value.Kind() == metrics.KindUint64 {
			live = sample[0].Value.Uint64()
		}
		if p := gcPercent(live); p != set {
			debug.SetGCPercent(p)
			set = p
		}
	}
	apply()
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				apply()
			}
		}
	}()
}
