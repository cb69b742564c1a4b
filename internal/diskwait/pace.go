package diskwait

import (
	"context"
	"runtime"
	"time"
)

// Pacing keeps a background goroutine's long computing from crowding out
// the requests on a process's only P.
//
// The call-log writer packs each batch into pure-Go SQLite: ~3.3 µs of CPU
// per record on the development VM (BenchmarkInsertCalls512), ~1.7 ms for a
// batch of 512, with no system call the runtime could hand the P on at. A
// yield between its statements does not help: runtime.Gosched takes the
// yielded goroutine from the run queue before the scheduler polls the
// network (runtime.findRunnable), and a sleep as short as a statement gives
// it the P back first (as read from the runtime, not measured apart: its
// timer puts it next in line) — either way the
// writer takes nearly all of the P until the batch is done, and requests
// that arrive meanwhile queue behind it. Paced, the writer sleeps twice as
// long as it last computed, so it takes at most a third of the P while
// requests want it, and the rest of its batch waits in the spare time.
// Measured (bench/README, "The Go floor's tail, and the call log's"): p99
// at 7 700 req/s with 2 048-record batches, medians 6.2 → 3.3 ms (better in
// 5 of 6 alternated rounds); with the default 512, better in 15 of 22
// rounds over three sets (medians 3.34 → 3.23, 4.7 → 5.8, 4.78 → 3.50).
//
// Pacing costs the writer throughput: at most a third of the CPU goes to
// it while paced. The writer therefore paces only while it keeps up (less
// than a batch waits behind the one it writes) and writes flat out when it
// falls behind, when it drains for Flush or Close, and with more than one
// P (another P serves the requests).

// paceRatio is how much longer than its last stretch a paced goroutine
// sleeps: 2 leaves it a third of the P.
const paceRatio = 2

type pacedKey struct{}

// WithPacing returns ctx marked so that a Pacer started from it paces.
func WithPacing(ctx context.Context) context.Context {
	return context.WithValue(ctx, pacedKey{}, true)
}

// Paced reports whether ctx was marked by WithPacing.
func Paced(ctx context.Context) bool {
	on, _ := ctx.Value(pacedKey{}).(bool)
	return on
}

// Pacer paces one run of computing: StartPacer at its start, Pause
// between its stretches.
type Pacer struct {
	on    bool
	done  <-chan struct{} // the run's context's: a pause ends with it
	since time.Time       // when the current stretch began
	// now and sleep are time.Now and sleepUntilDone; tests set a clock
	// and record the pauses instead.
	now   func() time.Time
	sleep func(d time.Duration, done <-chan struct{})
}

// StartPacer starts timing a run of computing; it paces if ctx was marked
// by WithPacing and the process has one P. A pause ends early when ctx
// does, so a shutdown does not wait for the writer's sleeps.
func StartPacer(ctx context.Context) Pacer {
	return Pacer{on: Paced(ctx) && runtime.GOMAXPROCS(0) == 1, done: ctx.Done(), since: time.Now(),
		now: time.Now, sleep: sleepUntilDone}
}

// Pause ends a stretch: paced, it sleeps paceRatio times the stretch's
// length (or until the context ends); otherwise it yields
// (runtime.Gosched), which lets goroutines that are already runnable go
// first.
func (p *Pacer) Pause() {
	if !p.on {
		runtime.Gosched()
		return
	}
	p.sleep(paceRatio*p.now().Sub(p.since), p.done)
	p.since = p.now()
}

// sleepUntilDone sleeps for d or until done is closed (a nil done never
// is).
func sleepUntilDone(d time.Duration, done <-chan struct{}) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-done:
	}
}
