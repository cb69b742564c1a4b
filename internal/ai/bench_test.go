package ai_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"gatehouse/internal/ai/aitest"
)

// BenchmarkStreamOverhead streams the same answer (benchChunks text
// chunks, one every benchPace) from a fake provider directly and through
// the handler, alternating the two each iteration, and reports medians:
//
//	ttft-direct-µs / ttft-gw-µs / ttft-overhead-µs: request sent → first
//	  SSE frame read by the client
//	chunk-direct-µs / chunk-gw-µs / chunk-overhead-µs: latency of each
//	  text chunk from the moment the fake wrote it (the chunk carries its
//	  send time) to the moment the client read it; median per stream,
//	  then median over iterations
//
// Everything (client, handler, fake) runs in this process on loopback, so
// allocs/op counts all three for both requests of an iteration.
func BenchmarkStreamOverhead(b *testing.B) {
	for _, kind := range []aitest.Kind{aitest.OpenAI, aitest.Anthropic, aitest.Gemini} {
		b.Run(string(kind), func(b *testing.B) { benchStream(b, kind) })
	}
}

const (
	benchChunks = 100
	benchPace   = 200 * time.Microsecond
)

func benchStream(b *testing.B, kind aitest.Kind) {
	f := aitest.New(b, kind)
	chunks := make([]string, benchChunks)
	for i := range chunks {
		chunks[i] = "word "
	}
	f.Set(aitest.Scenario{Chunks: chunks, Usage: aitest.Usage{Input: 10, Output: benchChunks}, Stamp: true, Pace: benchPace})
	g := newGateway(b, oneModel(f, "x"), nil)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-g.results:
			case <-stop:
				return
			}
		}
	}()
	msgs := []any{map[string]any{"role": "user", "content": "Say hello"}}
	var direct *http.Request
	switch kind {
	case aitest.OpenAI:
		direct = benchRequest(f.URL+"/v1/chat/completions", map[string]any{"model": "x", "messages": msgs, "stream": true,
			"stream_options": map[string]any{"include_usage": true}}, "Authorization", "Bearer "+f.Keys[0])
	case aitest.Anthropic:
		direct = benchRequest(f.URL+"/v1/messages", map[string]any{"model": "x", "max_tokens": 4096, "messages": msgs, "stream": true},
			"X-Api-Key", f.Keys[0])
		direct.Header.Set("Anthropic-Version", "2023-06-01")
	case aitest.Gemini:
		direct = benchRequest(f.URL+"/v1beta/models/x:streamGenerateContent?alt=sse",
			map[string]any{"contents": []any{map[string]any{"role": "user", "parts": []any{map[string]any{"text": "Say hello"}}}}},
			"X-Goog-Api-Key", f.Keys[0])
	}
	viaGW := benchRequest(g.URL+"/ai/v1/chat/completions", chatBody("m", true, map[string]any{"stream_options": map[string]any{"include_usage": true}}),
		"Authorization", "Bearer "+gatewayKey)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	var dTTFT, gTTFT, dChunk, gChunk []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		t, c := streamOnce(b, client, direct)
		dTTFT, dChunk = append(dTTFT, t), append(dChunk, c)
		t, c = streamOnce(b, client, viaGW)
		gTTFT, gChunk = append(gTTFT, t), append(gChunk, c)
	}
	b.StopTimer()
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
	md, mg, cd, cg := median(dTTFT), median(gTTFT), median(dChunk), median(gChunk)
	b.ReportMetric(us(md), "ttft-direct-µs")
	b.ReportMetric(us(mg), "ttft-gw-µs")
	b.ReportMetric(us(mg-md), "ttft-overhead-µs")
	b.ReportMetric(us(cd), "chunk-direct-µs")
	b.ReportMetric(us(cg), "chunk-gw-µs")
	b.ReportMetric(us(cg-cd), "chunk-overhead-µs")
}

func benchRequest(url string, body any, header, value string) *http.Request {
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(raw))
	req.GetBody = func() (rc io.ReadCloser, err error) { return io.NopCloser(bytes.NewReader(raw)), nil }
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(header, value)
	return req
}

// streamOnce sends req and reads its SSE body: time to the first frame and
// the median latency of the stamped chunks.
func streamOnce(b *testing.B, c *http.Client, req *http.Request) (ttft, chunkLatency time.Duration) {
	r := req.Clone(req.Context())
	r.Body, _ = req.GetBody()
	start := time.Now()
	resp, err := c.Do(r)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("status %d", resp.StatusCode)
	}
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	var first time.Time
	lat := make([]time.Duration, 0, benchChunks)
	for {
		line, err := br.ReadSlice('\n')
		if bytes.HasPrefix(line, []byte("data:")) {
			now := time.Now()
			if first.IsZero() {
				first = now
			}
			if ts := aitest.StampOf(string(line)); ts > 0 {
				lat = append(lat, time.Duration(now.UnixNano()-ts))
			}
		}
		if err != nil {
			break
		}
	}
	if len(lat) != benchChunks {
		b.Fatalf("%d stamped chunks, want %d", len(lat), benchChunks)
	}
	return first.Sub(start), median(lat)
}

func median(d []time.Duration) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[len(s)/2]
}
