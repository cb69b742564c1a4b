package diskwait

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestDoGivesTheDefaultBack: with GOMAXPROCS left to the runtime, a
// process given a second CPU while a commit runs ends the commit on two
// Ps with the runtime's own updates still on — not pinned to the one P it
// had when Do began. Run in a child process: the test binary fixes
// GOMAXPROCS itself (testing's -test.cpu), which turns the updates off.
func TestDoGivesTheDefaultBack(t *testing.T) {
	if os.Getenv("GATEHOUSE_TEST_DISKWAIT_CHILD") == "1" {
		defaultBackChild(t)
		return
	}
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		t.Fatal(err)
	}
	if all.Count() < 2 {
		t.Skipf("the process may run on %d CPU; the test gives it a second one", all.Count())
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDoGivesTheDefaultBack$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "GATEHOUSE_TEST_DISKWAIT_CHILD=1")
	cmd.Env = append(cmd.Env, "GOMAXPROCS=") // empty: the runtime's default
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	t.Logf("child:\n%s", out)
}

// defaultBackChild is the scenario, in the child: one CPU, Do, a second
// CPU granted inside f, then one CPU again.
func defaultBackChild(t *testing.T) {
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		t.Fatal(err)
	}
	var one unix.CPUSet
	for cpu := 0; cpu < 1024; cpu++ {
		if all.IsSet(cpu) {
			one.Set(cpu)
			break
		}
	}
	setAffinity(t, &one)
	t.Cleanup(func() { setAffinity(t, &all) })
	runtime.SetDefaultGOMAXPROCS() // the default again, updates on
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Fatalf("GOMAXPROCS on one CPU = %d, want 1", got)
	}
	if err := Do(func() error { setAffinity(t, &all); return nil }); err != nil {
		t.Fatal(err)
	}
	want := min(all.Count(), runtime.NumCPU())
	if got := runtime.GOMAXPROCS(0); got != want {
		t.Fatalf("GOMAXPROCS after a Do during which the process got %d CPUs = %d, want %d (the default, not the count before)",
			all.Count(), got, want)
	}
	// The runtime's updates are on: take the CPU away again and the count
	// follows within its period (about a second).
	setAffinity(t, &one)
	deadline := time.Now().Add(5 * time.Second)
	for runtime.GOMAXPROCS(0) != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("GOMAXPROCS still %d 5 s after the process went back to one CPU: the runtime's updates are off", runtime.GOMAXPROCS(0))
		}
		time.Sleep(50 * time.Millisecond) // polling the runtime's own period; there is no event to wait on
	}
}

// setAffinity sets the CPU set of every thread of the process (a thread's
// affinity is its own; the runtime reads it to choose the default).
func setAffinity(t *testing.T, set *unix.CPUSet) {
	t.Helper()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range tasks {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, set); err != nil && err != unix.ESRCH {
			t.Fatalf("sched_setaffinity(%d): %v", tid, err)
		}
	}
}
