// Package diskwait keeps a goroutine that works on the disk from stopping
// the rest of a process that runs on one P.
//
// The embedded store's commits run on the gateway's own P: pure-Go SQLite
// encodes and checksums the WAL frames and writes them, and every 1 000
// pages a commit also checkpoints — copies the pages into the database
// file with pread/pwrite, then fsyncs the WAL and the file (1–15 ms each
// on this machine's ext4). With one P, every request the gateway serves
// waits while that goroutine holds it: a goroutine computing keeps the P
// until the runtime's monitor preempts it (after 10 ms, and the monitor
// sleeps up to 10 ms between looks), and one in a system call until the
// monitor has seen the same call on two of its looks.
//
// Do runs such a call with one more P than the process had: the committing
// goroutine keeps its P, and the others go on with the spare one; on one
// CPU the kernel shares the CPU between the two threads instead of the
// requests waiting for the commit to finish. Measured (bench/README, "The
// latency tail at half the peak rate"): p99 at 4 000 req/s in 21
// alternated pairs of paced runs, a median of 6.1 against 11.6 ms in the
// largest set, better in 15 of the 21 pairs. Raising GOMAXPROCS and giving
// the default back stops the world twice (BenchmarkDo: about 16 µs at one
// P), once per commit — a call-log batch, at most a few dozen a second.
//
// With the spare P, f runs on a thread of its own at a lower scheduling
// priority (nice 10, Linux): on one CPU the kernel then gives the CPU to
// the threads serving requests first and to the commit when they wait,
// instead of alternating between them in slices of a millisecond or more
// while a request waits. Measured (bench/README, "Garbage per request,
// and commits on a lower-priority thread"): p99 at 12 000 req/s paced, medians 3.3 and 3.7
// ms against 4.3 and 4.2 in two alternated sets of four pairs, better in 6
// of 8 pairs.
//
// Only calls that spend their time in system calls belong here. A
// stop-the-world (a GC cycle's two, a GOMAXPROCS change's one) waits for
// every running goroutine to reach a safe point, and a goroutine computing
// on the nice-10 thread reaches one only when the kernel lets that thread
// run — on a CPU the requests keep busy, milliseconds later, while every
// request waits; a goroutine in a system call does not hold it up. And a
// thread that computes takes whole turns of the CPU, however rarely.
// Running a whole call-log batch here (packing and inserting, not only the
// commit) tripled p99 under a garbage-key flood, 11 → 34 ms, the GC's
// mark-termination stop taking 4.0 ms instead of 0.07 (bench/README, "A
// calm host, and why the call log's batches stay off the nice-10 thread").
// The packing is paced instead (Pacer, pace.go): on the request P, in
// stretches with pauses twice as long between them.
//
// GOMAXPROCS is the process's, so the count of callers inside Do is too:
// the one package-level variable, guarded by its mutex, mirrors the
// runtime's own state; the low-priority thread is the process's too.
package diskwait

import (
	"os"
	"runtime"
	"sync"
)

// maxRaised is the largest P count Do raises. One: with two or more,
// another P goes on while one waits, and the monitor hands a waiting P on
// when it finds another idle (not measured to need the spare).
const maxRaised = 1

var procs struct {
	mu       sync.Mutex
	inside   int  // callers inside Do
	prev     int  // GOMAXPROCS before Do raised it to prev+1; 0 when Do did not
	setByEnv bool // the GOMAXPROCS environment variable chose prev

	worker sync.Once
	work   chan func() // to the low-priority thread
}

// niceness is the nice value of the thread Do runs f on: 10 gives it a
// tenth of the weight of an ordinary thread, so a request thread that
// wants the CPU gets it about nine times in ten, and the commit still
// progresses on a CPU that is never idle.
const niceness = 10

// Do runs f, which may wait on the disk in a system call, with a spare P
// when the process has only one — and then on the low-priority thread.
// f's panic is Do's.
func Do(f func() error) error {
	raised := enter()
	defer leave()
	if !raised {
		return f() // more Ps already, or nested in another Do
	}
	return onWorker(f)
}

// onWorker runs f on the low-priority thread and waits for it.
func onWorker(f func() error) error {
	procs.worker.Do(func() {
		procs.work = make(chan func())
		go worker(procs.work)
	})
	var (
		err      error
		panicked any
		done     = make(chan struct{})
	)
	procs.work <- func() {
		defer func() {
			panicked = recover()
			close(done)
		}()
		err = f()
	}
	<-done
	if panicked != nil {
		panic(panicked)
	}
	return err
}

// worker runs the functions it is sent on a thread of its own whose
// priority it lowers. The thread stays locked to this goroutine for good:
// a thread made lower cannot be raised again without privilege, so no
// other goroutine may ever run on it.
func worker(work <-chan func()) {
	runtime.LockOSThread()
	lowerThreadPriority(niceness)
	for f := range work {
		f()
	}
}

// enter counts the caller in and raises GOMAXPROCS when the process has
// one P and no other caller is inside; it reports whether it raised.
func enter() bool {
	procs.mu.Lock()
	defer procs.mu.Unlock()
	procs.inside++
	if procs.inside > 1 {
		return false
	}
	n := runtime.GOMAXPROCS(0)
	if n > maxRaised {
		return false
	}
	procs.prev = n
	procs.setByEnv = os.Getenv("GOMAXPROCS") != ""
	runtime.GOMAXPROCS(n + 1)
	return true
}

func leave() {
	procs.mu.Lock()
	defer procs.mu.Unlock()
	procs.inside--
	prev := procs.prev
	if procs.inside > 0 || prev == 0 {
		return
	}
	procs.prev = 0
	restore(prev, procs.setByEnv, runtimeProcs)
}

// procsControl is how Do sets the P count: the runtime's functions, or a
// test's stand-in (a count that changes during Do cannot be arranged on a
// machine with one CPU).
type procsControl struct {
	setDefault func()          // runtime.SetDefaultGOMAXPROCS
	set        func(n int) int // runtime.GOMAXPROCS
}

var runtimeProcs = procsControl{setDefault: runtime.SetDefaultGOMAXPROCS, set: runtime.GOMAXPROCS}

// restore gives the count back after Do raised it from prev.
//
// runtime.GOMAXPROCS(n) also turns off the runtime's own updates of the
// count (from the CPU affinity and cgroup limits). Unless the GOMAXPROCS
// environment variable chose the count, give the runtime its default
// back, updates included — even when the default is no longer prev: the
// process was given more CPUs meanwhile, and setting prev again would
// keep it on one P for good (the runtime updates the count about once a
// second; a commit comes more often). A count set by a call of
// runtime.GOMAXPROCS elsewhere in the process is not kept: Gatehouse
// makes none, and the environment variable is the way to fix the count.
func restore(prev int, setByEnv bool, pc procsControl) {
	if !setByEnv {
		pc.setDefault()
		return
	}
	pc.set(prev)
}
