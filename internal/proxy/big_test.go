package proxy_test

import (
	"bufio"
	"bytes"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gatehouse/internal/proxy"
	"gatehouse/internal/proxy/proxytest"
)

// rss returns the process's resident set size in bytes: VmRSS from
// /proc/self/status, or the Go runtime's total from the OS where /proc is
// missing.
func rss() int64 {
	if f, err := os.Open("/proc/self/status"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if kb, ok := bytes.CutPrefix(sc.Bytes(), []byte("VmRSS:")); ok {
				kb = bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(kb), []byte("kB")))
				n, _ := strconv.ParseInt(string(kb), 10, 64)
				return n << 10
			}
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.Sys)
}

// peakRSS samples the RSS until stop is called and returns the growth over
// the baseline taken at the start.
func peakRSS() (stop func() int64) {
	runtime.GC()
	debug.FreeOSMemory()
	base := rss()
	var peak atomic.Int64
	peak.Store(base)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			if r := rss(); r > peak.Load() {
				peak.Store(r)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	return func() int64 {
		close(done)
		wg.Wait()
		if r := rss(); r > peak.Load() {
			peak.Store(r)
		}
		return peak.Load() - base
	}
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// TestGigabyteFlatMemory streams 1 GiB up and 1 GiB down through the
// default (fast) engine and checks the bytes arrive intact while the
// process's RSS grows by at most 64 MiB: bodies are streamed, never
// buffered whole. About 2 s per GiB here; under the race detector (10×
// slower) or -short it moves 128 MiB, still far more than the limit, so a
// buffering engine fails either way.
func TestGigabyteFlatMemory(t *testing.T) {
	size := int64(1 << 30)
	if raceEnabled || testing.Short() {
		size = 128 << 20
	}
	const limit = 64 << 20
	cases := []struct {
		desc    string
		upload  bool
		chunked bool
	}{
		{"upload, Content-Length", true, false},
		{"upload, chunked", true, true},
		{"download, Content-Length", false, false},
		{"download, chunked", false, true},
	}
	for _, listener := range []string{"net/http", "fast front"} {
		for _, tc := range cases {
			t.Run(listener+"/"+tc.desc, func(t *testing.T) {
				engine := newDefault(proxy.Options{})
				if listener == "fast front" {
					engine = onFastFront(engine)
				}
				g := proxytest.NewGateway(t, engine)
				upstreamSum := make(chan string, 1)
				up := proxytest.NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
					h := crc32.New(castagnoli)
					if tc.upload {
						n, err := io.Copy(h, r.Body)
						upstreamSum <- fmt.Sprintf("%08x/%d/%v", h.Sum32(), n, err)
						return
					}
					if !tc.chunked {
						w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
					}
					n, err := io.Copy(io.MultiWriter(w, h), proxytest.NewPattern(size))
					upstreamSum <- fmt.Sprintf("%08x/%d/%v", h.Sum32(), n, err)
				})
				g.Service(nil, up.URL)
				stop := peakRSS()
				start := time.Now()
				client := crc32.New(castagnoli)
				var n int64
				if tc.upload {
					req := g.NewRequest("PUT", "/blob", io.TeeReader(proxytest.NewPattern(size), client))
					if !tc.chunked {
						req.ContentLength = size
					}
					resp, _ := g.Do(req)
					if resp.StatusCode != 200 {
						t.Fatalf("status %d", resp.StatusCode)
					}
					n = size
				} else {
					resp, err := g.Client.Do(g.NewRequest("GET", "/blob", nil))
					if err != nil {
						t.Fatal(err)
					}
					n, err = io.Copy(client, resp.Body)
					resp.Body.Close()
					if err != nil {
						t.Fatal(err)
					}
				}
				elapsed := time.Since(start)
				growth := stop()
				want := fmt.Sprintf("%08x/%d/<nil>", client.Sum32(), size)
				if got := <-upstreamSum; got != want || n != size {
					t.Fatalf("upstream %s, client %s (%d bytes)", got, want, n)
				}
				rec := g.Next()
				if rec.Res.Engine != proxy.EngineFast || rec.Res.Err != nil || (tc.upload && rec.Res.BytesIn != size) || (!tc.upload && rec.Res.BytesOut != size) {
					t.Errorf("record %+v", rec.Res)
				}
				t.Logf("%d MiB in %v (%.0f MiB/s), RSS growth %.1f MiB", size>>20, elapsed.Round(time.Millisecond),
					float64(size>>20)/elapsed.Seconds(), float64(growth)/(1<<20))
				if growth > limit {
					t.Errorf("RSS grew by %.1f MiB while streaming %d MiB; limit %d MiB", float64(growth)/(1<<20), size>>20, limit>>20)
				}
			})
		}
	}
}
