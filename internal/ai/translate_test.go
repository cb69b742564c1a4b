package ai

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"gatehouse/internal/ai/sse"
)

func mustChat(t *testing.T, body string) *chatCall {
	t.Helper()
	req, rerr := parseChat([]byte(body))
	if rerr != nil {
		t.Fatalf("parseChat: %v", rerr)
	}
	n := 0
	return &chatCall{req: req, includeUsage: req.includeUsage(), created: 123, maxOutput: 4096,
		newID: func(p string) string { n++; return p + "gen" + string(rune('0'+n)) }}
}

// sameJSON compares two JSON texts structurally.
func sameJSON(t *testing.T, what string, got any, want string) {
	t.Helper()
	gb, _ := json.Marshal(got)
	var g, w any
	_ = json.Unmarshal(gb, &g)
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: bad expectation: %v", what, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %s\nwant %s", what, gb, want)
	}
}

// TestToAnthropic: the request map of ai-wire-formats.md §2.4.
func TestToAnthropic(t *testing.T) {
	c := mustChat(t, `{"model":"alias","max_completion_tokens":300,"temperature":1.5,"top_p":0.9,"stop":"\n\n","user":"end-user-42",
	 "parallel_tool_calls":false,"tool_choice":{"type":"function","function":{"name":"get_weather"}},
	 "tools":[{"type":"function","function":{"name":"get_weather","description":"d","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}],
	 "messages":[
	  {"role":"system","content":"You are terse."},
	  {"role":"developer","content":[{"type":"text","text":"Answer in French."}]},
	  {"role":"user","content":"Hi"},
	  {"role":"user","content":[{"type":"text","text":"What is this?"},
	     {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBOR","detail":"auto"}},
	     {"type":"image_url","image_url":{"url":"https://example.com/cat.jpg"}}]},
	  {"role":"assistant","content":"Let me check.","tool_calls":[{"id":"toolu_01A","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
	  {"role":"tool","tool_call_id":"toolu_01A","content":"{\"temp\":21}"}]}`)
	got, rerr := toAnthropic(c, "claude-sonnet-4-5")
	if rerr != nil {
		t.Fatal(rerr)
	}
	sameJSON(t, "anthropic request", got, `{"model":"claude-sonnet-4-5","max_tokens":300,
	 "system":"You are terse.\n\nAnswer in French.",
	 "temperature":1,"top_p":0.9,"stop_sequences":["\n\n"],"metadata":{"user_id":"end-user-42"},
	 "tools":[{"name":"get_weather","description":"d","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}],
	 "tool_choice":{"type":"tool","name":"get_weather","disable_parallel_tool_use":true},
	 "messages":[
	  {"role":"user","content":[{"type":"text","text":"Hi"},{"type":"text","text":"What is this?"},
	     {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBOR"}},
	     {"type":"image","source":{"type":"url","url":"https://example.com/cat.jpg"}}]},
	  {"role":"assistant","content":[{"type":"text","text":"Let me check."},{"type":"tool_use","id":"toolu_01A","name":"get_weather","input":{"city":"Paris"}}]},
	  {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_01A","content":"{\"temp\":21}"}]}]}`)
}

func TestToolChoiceMaps(t *testing.T) {
	cases := []struct{ in, anthropic, gemini string }{
		{`"auto"`, `{"type":"auto"}`, `{"functionCallingConfig":{"mode":"AUTO"}}`},
		{`"required"`, `{"type":"any"}`, `{"functionCallingConfig":{"mode":"ANY"}}`},
		{`"none"`, `{"type":"none"}`, `{"functionCallingConfig":{"mode":"NONE"}}`},
		{`{"type":"function","function":{"name":"f"}}`, `{"type":"tool","name":"f"}`, `{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["f"]}}`},
	}
	for _, tc := range cases {
		c := mustChat(t, `{"model":"m","tool_choice":`+tc.in+`,"tools":[{"type":"function","function":{"name":"f"}}],"messages":[{"role":"user","content":"x"}]}`)
		a, _ := toAnthropic(c, "m")
		sameJSON(t, "anthropic tool_choice "+tc.in, a.ToolChoice, tc.anthropic)
		g, _ := toGemini(c)
		sameJSON(t, "gemini toolConfig "+tc.in, g.ToolConfig, tc.gemini)
	}
}

func TestTranslationRefusals(t *testing.T) {
	cases := []struct {
		name, body, param string
		gemini            bool
	}{
		{"anthropic n>1", `{"model":"m","n":2,"messages":[{"role":"user","content":"x"}]}`, "n", false},
		{"anthropic bad arguments", `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{oops"}}]}]}`, "messages[1].tool_calls[0].function.arguments", false},
		{"anthropic only a system prompt", `{"model":"m","messages":[{"role":"system","content":"x"}]}`, "messages", false},
		{"anthropic bad image url", `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x"}}]}]}`, "messages[0].content[0]", false},
		{"gemini tool result for an unknown call", `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"tool","tool_call_id":"nope","content":"1"}]}`, "messages[1].tool_call_id", true},
		{"gemini bad arguments", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`, "messages[0].tool_calls[0].function.arguments", true},
	}
	for _, tc := range cases {
		c := mustChat(t, tc.body)
		var code, param string
		if tc.gemini {
			_, e := toGemini(c)
			if e != nil {
				code, param = e.Code, e.Param
			}
		} else {
			_, e := toAnthropic(c, "m")
			if e != nil {
				code, param = e.Code, e.Param
			}
		}
		if code != CodeBadRequest || param != tc.param {
			t.Errorf("%s: got %q param %q, want ai.bad_request param %q", tc.name, code, param, tc.param)
		}
	}
}

// TestToGemini: the Gemini request of §2.5.
func TestToGemini(t *testing.T) {
	c := mustChat(t, `{"model":"alias","max_tokens":1024,"temperature":0.7,"top_p":0.95,"stop":["\n\n"],"n":2,
	 "response_format":{"type":"json_object"},"tool_choice":"auto",
	 "tools":[{"type":"function","function":{"name":"get_weather","description":"d","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}],
	 "messages":[
	  {"role":"system","content":"You are terse."},
	  {"role":"user","content":[{"type":"text","text":"What's the weather in Paris?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBOR"}}]},
	  {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
	  {"role":"tool","tool_call_id":"call_1","content":"{\"temp\":21}"}]}`)
	got, rerr := toGemini(c)
	if rerr != nil {
		t.Fatal(rerr)
	}
	sameJSON(t, "gemini request", got, `{
	 "contents":[
	  {"role":"user","parts":[{"text":"What's the weather in Paris?"},{"inlineData":{"mimeType":"image/png","data":"iVBOR"}}]},
	  {"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}}]},
	  {"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"temp":21}}}]}],
	 "systemInstruction":{"parts":[{"text":"You are terse."}]},
	 "generationConfig":{"temperature":0.7,"topP":0.95,"maxOutputTokens":1024,"stopSequences":["\n\n"],"candidateCount":2,"responseMimeType":"application/json"},
	 "tools":[{"functionDeclarations":[{"name":"get_weather","description":"d","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}]}],
	 "toolConfig":{"functionCallingConfig":{"mode":"AUTO"}}}`)
}

// feed runs upstream SSE text through a translator and returns the client
// frames' data payloads.
func feed(t *testing.T, tr translator, upstream string) ([]string, error) {
	t.Helper()
	rd := sse.NewReader(strings.NewReader(upstream), 0)
	var out []byte
	var err error
	for {
		ev, rerr := rd.Next()
		if rerr != nil {
			out, err = tr.end(out)
			break
		}
		if out, err = tr.event(ev, out); err != nil {
			break
		}
	}
	var frames []string
	for _, f := range strings.Split(string(out), "\n\n") {
		if d, ok := strings.CutPrefix(f, "data: "); ok {
			frames = append(frames, d)
		}
	}
	return frames, err
}

func sameFrames(t *testing.T, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d frames, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for i := range want {
		if want[i] == "[DONE]" {
			if got[i] != "[DONE]" {
				t.Errorf("frame %d = %s, want [DONE]", i, got[i])
			}
			continue
		}
		var g any
		_ = json.Unmarshal([]byte(got[i]), &g)
		sameJSON(t, "frame "+string(rune('0'+i)), g, want[i])
	}
}

// TestAnthropicStream: the Kong text transcript and Envoy's tool-use
// transcript of §2.3, event by event, into the OpenAI chunks of §2.4.
func TestAnthropicStream(t *testing.T) {
	text := `event: message_start
data: {"type":"message_start","message":{"id":"msg_013NVLwA2ypoPDJAxqC3G7wg","type":"message","role":"assistant","model":"claude-2.1","stop_sequence":null,"usage":{"input_tokens":15,"output_tokens":1},"content":[],"stop_reason":null}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"1 + 1 = 2"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":9}}

event: message_stop
data: {"type":"message_stop"}

`
	c := mustChat(t, `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"1+1?"}]}`)
	tr := anthropicAdapter{}.stream(c)
	frames, err := feed(t, tr, text)
	if err != nil {
		t.Fatal(err)
	}
	head := `"id":"msg_013NVLwA2ypoPDJAxqC3G7wg","object":"chat.completion.chunk","created":123,"model":"claude-2.1"`
	sameFrames(t, frames,
		`{`+head+`,"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`,
		`{`+head+`,"choices":[{"index":0,"delta":{"content":"1 + 1 = 2"},"finish_reason":null}]}`,
		`{`+head+`,"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
		`{`+head+`,"choices":[],"usage":{"prompt_tokens":15,"completion_tokens":9,"total_tokens":24,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`,
		"[DONE]")
	if st := tr.state(); st.usage != (Usage{PromptTokens: 15, CompletionTokens: 9, TotalTokens: 24}) || !st.promptKnown || !st.completionKnown {
		t.Errorf("state %+v", st)
	}

	tools := `event: message_start
data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-3-sonnet","content":[],"usage":{"input_tokens":50,"output_tokens":1}}}

event: content_block_start
data: {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Checking."}}

event: content_block_start
data: {"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_abc123", "name": "get_weather", "input": {}}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"location\":\"Bosto"}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "n, MA\"}"}}

event: content_block_stop
data: {"type": "content_block_stop", "index": 1}

event: message_delta
data: {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"input_tokens": 50, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 20}}

event: message_stop
data: {"type":"message_stop"}
`
	c = mustChat(t, `{"model":"m","stream":true,"messages":[{"role":"user","content":"weather?"}]}`)
	tr = anthropicAdapter{}.stream(c)
	frames, err = feed(t, tr, tools)
	if err != nil {
		t.Fatal(err)
	}
	head = `"id":"msg_1","object":"chat.completion.chunk","created":123,"model":"claude-3-sonnet"`
	sameFrames(t, frames,
		`{`+head+`,"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`,
		`{`+head+`,"choices":[{"index":0,"delta":{"content":"Checking."},"finish_reason":null}]}`,
		// k = 0: the first tool call, although it is Anthropic block 1
		`{`+head+`,"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"toolu_abc123","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}`,
		`{`+head+`,"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"location\":\"Bosto"}}]},"finish_reason":null}]}`,
		`{`+head+`,"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"n, MA\"}"}}]},"finish_reason":null}]}`,
		`{`+head+`,"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`,
		"[DONE]") // no usage chunk: not asked
	if u := tr.state().usage; u != (Usage{PromptTokens: 50, CompletionTokens: 20, TotalTokens: 70}) {
		t.Errorf("usage %+v", u)
	}

	// An error event mid-stream is returned as a streamError with the
	// status it stands for (overloaded → 529, worth another target).
	tr = anthropicAdapter{}.stream(c)
	_, err = feed(t, tr, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n")
	se, ok := err.(*streamError)
	if !ok || se.status != 529 || se.perr.Message != "Overloaded" {
		t.Errorf("error event: %v", err)
	}
}

// TestGeminiStream: the Envoy frames of §2.5 into OpenAI chunks, with a
// whole functionCall turned into one tool_calls delta with a generated id.
func TestGeminiStream(t *testing.T) {
	up := `data: {"responseId":"msg_123","createTime":"2024-11-15T09:00:00Z","candidates":[{"content":{"parts":[{"text":"Hello"}],"role":"model"}}]}

data: {"responseId":"msg_123","createTime":"2024-11-15T09:00:00Z","candidates":[{"content":{"parts":[{"text":"! How"}],"role":"model"}}]}

data: {"responseId":"msg_123","createTime":"2024-11-15T09:00:00Z","candidates":[{"content":{"parts":[{"text":"?"},{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}}],"role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":7,"totalTokenCount":17}}

`
	c := mustChat(t, `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`)
	tr := geminiAdapter{}.stream(c)
	frames, err := feed(t, tr, up)
	if err != nil {
		t.Fatal(err)
	}
	head := `"id":"msg_123","object":"chat.completion.chunk","created":123,"model":""`
	sameFrames(t, frames,
		`{`+head+`,"choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":null}]}`,
		`{`+head+`,"choices":[{"index":0,"delta":{"content":"! How"},"finish_reason":null}]}`,
		`{`+head+`,"choices":[{"index":0,"delta":{"content":"?","tool_calls":[{"index":0,"id":"call_gen1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},"finish_reason":null}]}`,
		`{`+head+`,"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`,
		`{`+head+`,"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":7,"total_tokens":17,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`,
		"[DONE]")

	// No finishReason before EOF: an incomplete stream, not a success.
	tr = geminiAdapter{}.stream(c)
	if _, err := feed(t, tr, "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hel\"}]}}]}\n\n"); err == nil {
		t.Error("a stream without finishReason ended cleanly")
	}
}

// TestResponses: non-streamed answers translated to chat.completion.
func TestResponses(t *testing.T) {
	c := mustChat(t, `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	o, err := anthropicAdapter{}.chatResult([]byte(`{"id":"msg_013NVLwA2ypoPDJAxqC3G7wg","type":"message","role":"assistant","model":"claude-sonnet-4-5",
	 "content":[{"type":"text","text":"Hello!"},{"type":"tool_use","id":"toolu_01A","name":"get_weather","input":{"city":"Paris"}}],
	 "stop_reason":"tool_use","stop_sequence":null,
	 "usage":{"input_tokens":15,"output_tokens":12,"cache_creation_input_tokens":0,"cache_read_input_tokens":10}}`), c)
	if err != nil {
		t.Fatal(err)
	}
	var got any
	_ = json.Unmarshal(o.body, &got)
	// Envoy's expectation: input 15 + cache read 10 → prompt 25, total 37, cached 10.
	sameJSON(t, "anthropic response", got, `{"id":"msg_013NVLwA2ypoPDJAxqC3G7wg","object":"chat.completion","created":123,"model":"claude-sonnet-4-5",
	 "choices":[{"index":0,"message":{"role":"assistant","content":"Hello!","refusal":null,
	   "tool_calls":[{"id":"toolu_01A","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},
	   "logprobs":null,"finish_reason":"tool_calls"}],
	 "usage":{"prompt_tokens":25,"completion_tokens":12,"total_tokens":37,"prompt_tokens_details":{"cached_tokens":10},"completion_tokens_details":{"reasoning_tokens":0}}}`)

	o, err = geminiAdapter{}.chatResult([]byte(`{"candidates":[{"content":{"role":"model","parts":[{"text":"Let me think","thought":true},{"text":"Hello"}]},"finishReason":"MAX_TOKENS","index":0,
	  "safetyRatings":[{"category":"HARM_CATEGORY_HARASSMENT","probability":"NEGLIGIBLE"}]}],
	 "usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":7,"totalTokenCount":21,"cachedContentTokenCount":4,"thoughtsTokenCount":4},
	 "modelVersion":"gemini-2.0-flash","responseId":"msg_123"}`), c)
	if err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal(o.body, &got)
	sameJSON(t, "gemini response", got, `{"id":"msg_123","object":"chat.completion","created":123,"model":"gemini-2.0-flash",
	 "choices":[{"index":0,"message":{"role":"assistant","content":"Hello","refusal":null,"reasoning_content":"Let me think"},"logprobs":null,"finish_reason":"length"}],
	 "usage":{"prompt_tokens":10,"completion_tokens":11,"total_tokens":21,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":4}}}`)

	// A blocked prompt is an answer with finish_reason content_filter.
	o, err = geminiAdapter{}.chatResult([]byte(`{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":5,"totalTokenCount":5}}`), c)
	if err != nil || !strings.Contains(string(o.body), `"finish_reason":"content_filter"`) {
		t.Errorf("blocked prompt: %s %v", o.body, err)
	}

	for _, stop := range [][2]string{{"end_turn", "stop"}, {"stop_sequence", "stop"}, {"max_tokens", "length"}, {"tool_use", "tool_calls"}, {"refusal", "content_filter"}, {"pause_turn", "stop"}} {
		if got := antFinish(stop[0]); got != stop[1] {
			t.Errorf("antFinish(%s) = %s", stop[0], got)
		}
	}
	for _, fr := range [][2]string{{"STOP", "stop"}, {"MAX_TOKENS", "length"}, {"SAFETY", "content_filter"}, {"BLOCKLIST", "content_filter"}, {"PROHIBITED_CONTENT", "content_filter"}, {"SPII", "content_filter"}, {"OTHER", "stop"}} {
		if got := gemFinish(fr[0], false); got != fr[1] {
			t.Errorf("gemFinish(%s) = %s", fr[0], got)
		}
	}
}

// TestOpenAIStreamPassThrough: chunks go through byte for byte; the last
// usage wins (never a sum); the forced usage chunk is dropped when the
// client did not ask; cumulative usage on content chunks is moved to one
// final usage chunk (OpenAI's semantics, which SDK accumulators rely on).
func TestOpenAIStreamPassThrough(t *testing.T) {
	plain := `{"id":"c","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{"content":"He"}}]}`
	cases := []struct {
		name string
		ask  bool
		up   string
		want []string
	}{
		{"standard final usage chunk, asked", true,
			"data: " + plain + "\n\ndata: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n" +
				"data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}\n\ndata: [DONE]\n\n",
			[]string{plain, `{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
				`{"id":"c","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}`, "[DONE]"}},
		{"standard final usage chunk, forced (not asked): dropped", false,
			"data: " + plain + "\n\ndata: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n" +
				"data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}\n\ndata: [DONE]\n\n",
			[]string{plain, `{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`, "[DONE]"}},
		{"cumulative usage on content chunks, asked: null there, one usage chunk at the end", true,
			"data: {\"id\":\"c\",\"created\":7,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"He\"}}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1,\"total_tokens\":6}}\n\n" +
				"data: {\"id\":\"c\",\"created\":7,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}\n\ndata: [DONE]\n\n",
			[]string{`{"id":"c","created":7,"model":"m","choices":[{"index":0,"delta":{"content":"He"}}],"usage":null}`,
				`{"id":"c","created":7,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}`,
				`{"id":"c","object":"chat.completion.chunk","created":7,"model":"m","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`,
				"[DONE]"}},
		{"cumulative usage, not asked: no usage at all", false,
			"data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"He\"}}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1,\"total_tokens\":6}}\n\n" +
				"data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}\n\n",
			[]string{`{"id":"c","choices":[{"index":0,"delta":{"content":"He"}}]}`, `{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`, "[DONE]"}},
	}
	for _, tc := range cases {
		body := `{"model":"m","stream":true,"messages":[{"role":"user","content":"x"}]}`
		if tc.ask {
			body = `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"x"}]}`
		}
		tr := openaiAdapter{}.stream(mustChat(t, body))
		frames, err := feed(t, tr, tc.up)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(frames) > 0 && frames[0] == plain {
			// passed through byte for byte
		} else if tc.want[0] == plain {
			t.Errorf("%s: the first chunk was not passed through as is: %s", tc.name, frames[0])
		}
		sameFrames(t, frames, tc.want...)
		if u := tr.state().usage; u.PromptTokens != 5 || u.CompletionTokens != 2 || u.TotalTokens != 7 {
			t.Errorf("%s: usage %+v", tc.name, u)
		}
	}
}

func TestProviderURLs(t *testing.T) {
	az := &Provider{Type: TypeAzure, BaseURL: "https://res.openai.azure.com/", APIVersion: "2025-04-01-preview",
		Deployment: map[string]string{"gpt-4o": "prod gpt4o"}}
	cases := []struct{ got, want string }{
		{openaiAdapter{azure: true}.url(az, "gpt-4o", "chat/completions"), "https://res.openai.azure.com/openai/deployments/prod%20gpt4o/chat/completions?api-version=2025-04-01-preview"},
		{openaiAdapter{azure: true}.url(&Provider{BaseURL: "https://r.example"}, "emb", "embeddings"), "https://r.example/openai/deployments/emb/embeddings?api-version=" + DefaultAzureAPIVersion},
		{openaiAdapter{}.url(&Provider{}, "gpt-4o", "chat/completions"), "https://api.openai.com/v1/chat/completions"},
		{openaiAdapter{}.url(&Provider{BaseURL: "http://localhost:11434/v1/"}, "llama3", "chat/completions"), "http://localhost:11434/v1/chat/completions"},
		{gemURL(&Provider{}, "models/gemini-2.0-flash", "generateContent"), "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent"},
	}
	for _, tc := range cases {
		if tc.got != tc.want {
			t.Errorf("got %s\nwant %s", tc.got, tc.want)
		}
	}
}
