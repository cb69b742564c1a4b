package sqlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"runtime/trace"
	"slices"
	"testing"
	"time"

	xtrace "golang.org/x/exp/trace"

	"gatehouse/internal/diskwait"
	"gatehouse/internal/domain"
	"gatehouse/internal/store"
)

// TestWritesCommitWithASpareP: every way the store writes commits under
// diskwait (a commit may checkpoint the WAL: copy pages and fsync), seen in
// an execution trace as GOMAXPROCS going from one to two and back.
func TestWritesCommitWithASpareP(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "g.db"))
	ctx := t.Context()
	batch := make([]domain.Call, 64)
	for i := range batch {
		batch[i] = testCall(fmt.Sprintf("01JSPARE%04d", i), time.Duration(i)*time.Millisecond, "con_1")
	}
	for _, tc := range []struct {
		desc  string
		write func(context.Context) error
	}{
		{"call-log batch", func(ctx context.Context) error { return s.InsertCalls(ctx, batch) }},
		{"admin change", func(ctx context.Context) error {
			return s.Update(ctx, func(tx store.Tx) error { return nil })
		}},
		{"retention, statement by statement", func(ctx context.Context) error {
			_, err := s.DeleteAlertsBefore(ctx, time.Now())
			return err
		}},
		{"call-log retention", func(ctx context.Context) error {
			_, err := s.DeleteCallsBefore(ctx, t0.Add(time.Hour))
			return err
		}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			runtime.GOMAXPROCS(1)
			t.Cleanup(runtime.SetDefaultGOMAXPROCS)
			var buf bytes.Buffer
			if err := trace.Start(&buf); err != nil {
				t.Fatal(err)
			}
			err := tc.write(ctx)
			trace.Stop()
			if err != nil {
				t.Fatal(err)
			}
			if got := procCounts(t, &buf); !containsRun(got, 1, 2, 1) {
				t.Errorf("GOMAXPROCS during the write went %v, want 1, 2, 1", got)
			}
		})
	}
}

// procCounts lists the GOMAXPROCS values a trace records, repeats folded.
func procCounts(t *testing.T, r io.Reader) []uint64 {
	t.Helper()
	tr, err := xtrace.NewReader(r)
	if err != nil {
		t.Fatal(err)
	}
	var out []uint64
	for {
		ev, err := tr.ReadEvent()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind() != xtrace.EventMetric {
			continue
		}
		if m := ev.Metric(); m.Name == "/sched/gomaxprocs:threads" {
			if v := m.Value.Uint64(); len(out) == 0 || out[len(out)-1] != v {
				out = append(out, v)
			}
		}
	}
}

func containsRun(s []uint64, run ...uint64) bool {
	for i := 0; i+len(run) <= len(s); i++ {
		if slices.Equal(s[i:i+len(run)], run) {
			return true
		}
	}
	return false
}

// TestInsertCallsAtLowPriority: a call-log batch whose context asks for
// low priority (diskwait.WithLowPriority: the writer keeps up) runs its
// whole transaction under diskwait — the caller waits in diskwait.Do
// called by InsertCalls itself, and the batch's work is done elsewhere;
// without the mark only the commit does, and the batch is inserted on the
// caller's goroutine. Seen in execution traces: the stacks at which
// goroutines blocked in diskwait, with the function that called Do.
func TestInsertCallsAtLowPriority(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), "g.db"))
	for i, tc := range []struct {
		desc     string
		low      bool
		wantFrom string // the caller of diskwait.Do that waited
	}{
		{"unmarked: the commit alone", false, "gatehouse/internal/store/sqlite.commit"},
		{"marked: the whole transaction", true, "gatehouse/internal/store/sqlite.(*Store).InsertCalls"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			ctx := t.Context()
			if tc.low {
				ctx = diskwait.WithLowPriority(ctx)
			}
			batch := make([]domain.Call, 300)
			for j := range batch {
				batch[j] = testCall(fmt.Sprintf("01JLOWP%d%04d", i, j), time.Duration(j)*time.Millisecond, "con_1")
			}
			runtime.GOMAXPROCS(1)
			t.Cleanup(runtime.SetDefaultGOMAXPROCS)
			var buf bytes.Buffer
			if err := trace.Start(&buf); err != nil {
				t.Fatal(err)
			}
			err := s.InsertCalls(ctx, batch)
			trace.Stop()
			if err != nil {
				t.Fatal(err)
			}
			got := diskwaitCallers(t, &buf)
			if len(got) != 1 || got[0] != tc.wantFrom {
				t.Errorf("goroutines waited in diskwait.Do called from %q, want only from %q", got, tc.wantFrom)
			}
		})
	}
}

// diskwaitCallers lists, once each, the functions that called diskwait.Do
// in the stacks at which a goroutine of the trace blocked inside it.
func diskwaitCallers(t *testing.T, r io.Reader) []string {
	t.Helper()
	tr, err := xtrace.NewReader(r)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for {
		ev, err := tr.ReadEvent()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind() != xtrace.EventStateTransition {
			continue
		}
		st := ev.StateTransition()
		if st.Resource.Kind != xtrace.ResourceGoroutine {
			continue
		}
		if _, to := st.Goroutine(); to != xtrace.GoWaiting {
			continue
		}
		next := false
		for f := range st.Stack.Frames() {
			if next {
				if !slices.Contains(out, f.Func) {
					out = append(out, f.Func)
				}
				break
			}
			next = f.Func == "gatehouse/internal/diskwait.Do"
		}
	}
}
