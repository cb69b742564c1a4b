//go:build race

package testenv

// Race reports whether the race detector is on. Under it sync.Pool drops a
// quarter of what is put back (on purpose, to shake out reuse bugs), so a
// count of allocations per request says nothing about the pooled path.
const Race = true
