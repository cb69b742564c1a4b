package diskwait

import "syscall"

// lowerThreadPriority sets the calling thread's nice value (on Linux
// PRIO_PROCESS with a thread ID names that thread alone). Lowering needs
// no privilege; a failure leaves the thread as it was, which costs only
// the benefit.
func lowerThreadPriority(nice int) {
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), nice)
}

// threadNice is the calling thread's nice value (tests).
func threadNice() (int, bool) {
	// The raw system call returns 20 - nice, so that it is never negative.
	p, err := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid())
	return 20 - p, err == nil
}
