package diskwait

import (
	"context"
	"slices"
	"testing"
	"time"
)

// spin computes for at least d without a system call, as pure-Go SQLite
// does between statements.
func spin(d time.Duration) {
	for start := time.Now(); time.Since(start) < d; {
	}
}

func TestPacerPauses(t *testing.T) {
	for _, tc := range []struct {
		desc   string
		procs  int
		marked bool
		sleeps bool
	}{
		{"marked, one P: sleeps twice each stretch", 1, true, true},
		{"not marked, one P: yields only", 1, false, false},
		{"marked, two Ps: yields only (another P serves requests)", 2, true, false},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			withProcs(t, tc.procs)
			ctx := context.Background()
			if tc.marked {
				ctx = WithPacing(ctx)
			}
			p := StartPacer(ctx)
			clock := p.since
			p.now = func() time.Time { return clock }
			var slept []time.Duration
			p.sleep = func(d time.Duration, _ <-chan struct{}) {
				slept = append(slept, d)
				clock = clock.Add(d) // the sleep itself is not computing
			}
			clock = clock.Add(3 * time.Millisecond)
			p.Pause()
			clock = clock.Add(time.Millisecond)
			p.Pause()
			p.Pause()
			var want []time.Duration
			if tc.sleeps {
				// Each stretch is timed from the end of the pause before it.
				want = []time.Duration{6 * time.Millisecond, 2 * time.Millisecond, 0}
			}
			if !slices.Equal(slept, want) {
				t.Fatalf("slept %v, want %v", slept, want)
			}
		})
	}
}

// TestPacerSleepsForReal: with the real clock a paced pause lasts at least
// twice the stretch before it.
func TestPacerSleepsForReal(t *testing.T) {
	withProcs(t, 1)
	p := StartPacer(WithPacing(context.Background()))
	spin(2 * time.Millisecond)
	start := time.Now()
	p.Pause()
	if got := time.Since(start); got < 4*time.Millisecond {
		t.Errorf("pause lasted %v, want at least 4ms", got)
	}
}

// TestPacerPauseEndsWithItsContext: a shutdown does not wait out a pause.
func TestPacerPauseEndsWithItsContext(t *testing.T) {
	withProcs(t, 1)
	ctx, cancel := context.WithCancel(WithPacing(context.Background()))
	p := StartPacer(ctx)
	p.since = p.since.Add(-time.Hour) // a stretch whose pause would last two hours
	cancel()
	start := time.Now()
	p.Pause()
	if got := time.Since(start); got > time.Second {
		t.Errorf("a pause after the context ended lasted %v", got)
	}
}

func TestPaced(t *testing.T) {
	if Paced(context.Background()) {
		t.Error("a plain context reads as paced")
	}
	ctx, cancel := context.WithCancel(WithPacing(context.Background()))
	defer cancel()
	if !Paced(ctx) {
		t.Error("a context derived from a paced one does not read as paced")
	}
}
