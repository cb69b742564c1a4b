package ai

import (
	"testing"

	"gatehouse/internal/ai/sse"
)

// BenchmarkTranslateEvent is the CPU cost per stream event of each
// translator (one text delta in, one OpenAI chunk out), without I/O.
func BenchmarkTranslateEvent(b *testing.B) {
	c := &chatCall{req: &chatRequest{Stream: true}, created: 1, newID: newID}
	cases := []struct {
		name string
		tr   func() translator
		ev   sse.Event
	}{
		{"openai passthrough", func() translator { return openaiAdapter{}.stream(c) }, sse.Event{Data: []byte(
			`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1731618222,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_0ba0d124f1","choices":[{"index":0,"delta":{"content":"Hel"},"logprobs":null,"finish_reason":null}],"usage":null}`)}},
		{"anthropic text_delta", func() translator { return anthropicAdapter{}.stream(c) }, sse.Event{Name: "content_block_delta", Data: []byte(
			`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}`)}},
		{"gemini frame", func() translator { return geminiAdapter{}.stream(c) }, sse.Event{Data: []byte(
			`{"responseId":"msg_123","createTime":"2024-11-15T09:00:00Z","candidates":[{"content":{"parts":[{"text":"Hel"}],"role":"model"},"index":0}],"modelVersion":"gemini-2.0-flash"}`)}},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			tr := tc.tr()
			out := make([]byte, 0, 1024)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if out, err = tr.event(tc.ev, out[:0]); err != nil || len(out) == 0 {
					b.Fatalf("%v %q", err, out)
				}
			}
		})
	}
}
