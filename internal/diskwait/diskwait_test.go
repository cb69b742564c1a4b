package diskwait

import (
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
)

// withProcs runs the test at n Ps, chosen as an operator would fix them
// (the GOMAXPROCS environment variable, which Do keeps), and gives the
// runtime its default back afterwards.
func withProcs(t testing.TB, n int) {
	t.Helper()
	t.Setenv("GOMAXPROCS", strconv.Itoa(n))
	runtime.GOMAXPROCS(n)
	t.Cleanup(runtime.SetDefaultGOMAXPROCS)
}

func TestDo(t *testing.T) {
	for _, tc := range []struct {
		desc         string
		procs        int
		inside, want int
	}{
		{"one P: a spare one while f runs, then one again", 1, 2, 1},
		{"two Ps: left alone", 2, 2, 2},
		{"eight Ps: left alone", 8, 8, 8},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			withProcs(t, tc.procs)
			var inside int
			err := Do(func() error { inside = runtime.GOMAXPROCS(0); return os.ErrClosed })
			if err != os.ErrClosed {
				t.Errorf("Do returned %v, want f's error", err)
			}
			if inside != tc.inside {
				t.Errorf("GOMAXPROCS inside Do = %d, want %d", inside, tc.inside)
			}
			if got := runtime.GOMAXPROCS(0); got != tc.want {
				t.Errorf("GOMAXPROCS after Do = %d, want %d", got, tc.want)
			}
		})
	}
}

// TestDoEnvironment: a count the GOMAXPROCS variable chose is set again,
// not replaced by the default. (Without the variable the default comes
// back: TestDoGivesTheDefaultBack.)
func TestDoEnvironment(t *testing.T) {
	withProcs(t, 1)
	if err := Do(func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Errorf("GOMAXPROCS after Do = %d, want 1 (the environment's)", got)
	}
}

// TestDoConcurrent: overlapping callers share one spare P, and the count
// goes back only when the last one leaves.
func TestDoConcurrent(t *testing.T) {
	withProcs(t, 1)
	var wg sync.WaitGroup
	errs := make(chan int, 64)
	for range 16 {
		wg.Go(func() {
			for range 20 {
				_ = Do(func() error {
					if n := runtime.GOMAXPROCS(0); n != 2 {
						errs <- n
					}
					runtime.Gosched()
					return nil
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for n := range errs {
		t.Errorf("GOMAXPROCS inside Do = %d, want 2", n)
	}
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Errorf("GOMAXPROCS after the last caller = %d, want 1", got)
	}
}

// TestDoPanics: a panicking f still gives the count back.
func TestDoPanics(t *testing.T) {
	withProcs(t, 1)
	func() {
		defer func() { _ = recover() }()
		_ = Do(func() error { panic("boom") })
	}()
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Errorf("GOMAXPROCS after a panic in f = %d, want 1", got)
	}
}

// BenchmarkDo is what Do costs around a call at one P: raising GOMAXPROCS
// and setting it back, each a brief stop of the world. (One P through the
// environment: on a machine with more CPUs the default would leave Do
// nothing to do; giving the default back costs the same stop.)
func BenchmarkDo(b *testing.B) {
	withProcs(b, 1)
	nop := func() error { return nil }
	for b.Loop() {
		_ = Do(nop)
	}
}

// TestDoLowPriority: with the spare P, f runs on a thread of lower
// priority (Linux), nested calls run there too without waiting for
// themselves, and the caller's own thread is never lowered; with more Ps
// f runs where it is called.
func TestDoLowPriority(t *testing.T) {
	if _, ok := threadNice(); !ok {
		t.Log("no per-thread priority on " + runtime.GOOS + ": f runs at the caller's")
	}
	for _, tc := range []struct {
		desc  string
		procs int
		want  int // f's nice value, the caller's being 0
	}{
		{"one P: f on the low-priority thread", 1, niceness},
		{"two Ps: f on the caller's thread", 2, 0},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			withProcs(t, tc.procs)
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			before, ok := threadNice()
			if !ok {
				return
			}
			if before != 0 {
				t.Fatalf("the test's thread runs at nice %d, want 0", before)
			}
			var inF, nested int
			err := Do(func() error {
				inF, _ = threadNice()
				return Do(func() error { nested, _ = threadNice(); return nil })
			})
			if err != nil {
				t.Fatal(err)
			}
			if inF != tc.want || nested != tc.want {
				t.Errorf("f ran at nice %d, the nested call at %d; want %d", inF, nested, tc.want)
			}
			if after, _ := threadNice(); after != before {
				t.Errorf("the caller's thread is at nice %d after Do, was %d", after, before)
			}
		})
	}
}

// TestRestore: after Do, a count the runtime chose is given back as the
// runtime's default — even when the default changed during Do (the process
// was given a second CPU), where setting the old count again would pin the
// process to one P and turn the runtime's updates off for good; a count the
// GOMAXPROCS variable chose is set again. (Checked against the real runtime
// with affinity changes in a child process when this was written; the
// stand-in lets the test run on a machine with one CPU.)
func TestRestore(t *testing.T) {
	for _, tc := range []struct {
		desc       string
		setByEnv   bool
		defaultNow int // what the runtime's default is after Do
		want       int
		wantSet    bool // an explicit count (updates off)
	}{
		{"runtime's count, unchanged machine", false, 1, 1, false},
		{"runtime's count, a CPU granted during Do", false, 2, 2, false},
		{"environment's count", true, 2, 1, true},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			count, explicit := 2, false // Do raised 1 to 2
			pc := procsControl{
				setDefault: func() { count, explicit = tc.defaultNow, false },
				set: func(n int) int { // as runtime.GOMAXPROCS: n < 1 only reads
					old := count
					if n > 0 {
						count, explicit = n, true
					}
					return old
				},
			}
			restore(1, tc.setByEnv, pc)
			if count != tc.want || explicit != tc.wantSet {
				t.Errorf("count %d (explicit %v), want %d (explicit %v)", count, explicit, tc.want, tc.wantSet)
			}
		})
	}
}
