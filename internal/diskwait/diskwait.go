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
// GOMAXPROCS is the process's, so the count of callers inside Do is too:
// the one package-level variable, guarded by its mutex, mirrors the
// runtime's own state.
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
}

// Do runs f, which may wait on the disk in a system call, with a spare P
// when the process has only one.
func Do(f func() error) error {
	enter()
	defer leave()
	return f()
}

func enter() {
	procs.mu.Lock()
	defer procs.mu.Unlock()
	procs.inside++
	if procs.inside > 1 {
		return
	}
	n := runtime.GOMAXPROCS(0)
	if n > maxRaised {
		return
	}
	procs.prev = n
	procs.setByEnv = os.Getenv("GOMAXPROCS") != ""
	runtime.GOMAXPROCS(n + 1)
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
	// runtime.GOMAXPROCS(n) also turns off the runtime's own updates of
	// the count (from the CPU affinity and cgroup limits). When the
	// count before was the runtime's default, give the runtime its
	// default back instead, updates included; an explicit value (the
	// environment variable, or a call of someone else's) is set again.
	if !procs.setByEnv {
		runtime.SetDefaultGOMAXPROCS()
		if runtime.GOMAXPROCS(0) == prev {
			return
		}
	}
	runtime.GOMAXPROCS(prev)
}
