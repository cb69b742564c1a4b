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
			// One P fixed by the environment, as an operator would (Do
			// gives the default back otherwise: two Ps on this machine).
			t.Setenv("GOMAXPROCS", "1")
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
