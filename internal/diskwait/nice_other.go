//go:build !linux

package diskwait

// lowerThreadPriority does nothing outside Linux, where a priority is the
// whole process's: f still runs with the spare P.
func lowerThreadPriority(int) {}

func threadNice() (int, bool) { return 0, false }
