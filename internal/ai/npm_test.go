package ai_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/ai"
	"gatehouse/internal/ai/aitest"
	"gatehouse/internal/npmtest"
)

// TestNPMOpenAISDK: the official npm openai SDK (testdata/npm/sdk.cjs, run
// by node) against the handler in front of each fake provider: chat plain
// and streamed, tool calls both ways, embeddings (the SDK's default base64),
// our rejection and a failure after the first streamed byte. The package is
// installed with npm ci from testdata/npm into the git-ignored
// .npm-tests/ai/ when missing. Skipped only when node is absent and CI is
// not set; under CI=true a missing node fails.
func TestNPMOpenAISDK(t *testing.T) {
	node := npmtest.Node(t, "npm openai SDK test")
	modules := npmtest.Install(t, "ai", "openai")
	const text = "The sky is blue because of Rayleigh scattering."
	call := aitest.ToolCall{ID: "toolu_01A", Name: "get_weather", Args: `{"city":"Paris"}`}
	// One gateway per provider kind, one node process for all of them.
	urls := map[string]string{}
	for _, pc := range providerCases {
		f := aitest.New(t, pc.kind)
		f.Script(func(r aitest.Request) aitest.Scenario {
			body := string(r.Body)
			switch {
			case strings.Contains(body, "fail mid-stream"):
				return aitest.Scenario{Chunks: []string{"par", "tial"}, Fail: aitest.FailError, FailAt: 1}
			case strings.Contains(body, "temp"):
				return aitest.Scenario{Text: "21 degrees.", Usage: pc.usage}
			case strings.Contains(body, "get_weather"):
				return aitest.Scenario{ToolCalls: []aitest.ToolCall{call}, Usage: pc.usage}
			}
			return aitest.Scenario{Text: text, Usage: pc.usage}
		})
		g := newGateway(t, []*ai.Model{model("m", ai.Target{Provider: f.Provider("p"), Model: "x"}),
			model("other", ai.Target{Provider: f.Provider("p"), Model: "y"})}, nil)
		g.allow("m")
		done := make(chan struct{})
		t.Cleanup(func() { close(done) })
		go func() { // drain Results while node runs
			for {
				select {
				case <-g.results:
				case <-done:
					return
				}
			}
		}()
		urls[string(pc.kind)] = g.URL + "/ai/v1"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "npm", "sdk.cjs"))
	list, _ := json.Marshal(urls)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules, "BASE_URLS="+string(list), "API_KEY="+gatewayKey)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s\n%s", err, out, stderr.String())
	}
	var all map[string]npmResult
	if err := json.Unmarshal(out, &all); err != nil {
		t.Fatalf("node output %s: %v", out, err)
	}
	for _, pc := range providerCases {
		t.Run(string(pc.kind), func(t *testing.T) {
			got, ok := all[string(pc.kind)]
			if !ok {
				t.Fatalf("no results for %s", pc.kind)
			}
			if got.Plain.Text != text || got.Plain.Finish != "stop" {
				t.Errorf("plain %+v", got.Plain)
			}
			checkUsageJSON(t, "plain", got.Plain.Usage, pc.want)
			if got.Stream.Text != got.Plain.Text || got.Stream.UsageChunks != 1 || got.Stream.Finish != "stop" {
				t.Errorf("stream %+v", got.Stream)
			}
			checkUsageJSON(t, "stream", got.Stream.Usage, pc.want)
			for name, s := range map[string]npmStream{"tools": got.Tools, "tools stream": got.ToolsStream} {
				if s.Finish != "tool_calls" || len(s.ToolCalls) != 1 || s.ToolCalls[0].Name != "get_weather" ||
					!jsonEqual(s.ToolCalls[0].Arguments, call.Args) || s.ToolCalls[0].ID == "" {
					t.Errorf("%s: %+v", name, s)
				}
			}
			if got.ToolResult != "21 degrees." {
				t.Errorf("tool result turn: %q", got.ToolResult)
			}
			if pc.kind == aitest.Anthropic {
				if e := got.EmbeddingsError; e == nil || e.Status != 400 || e.Code != ai.CodeBadRequest || e.Param != "model" {
					t.Errorf("anthropic embeddings: %+v", e)
				}
			} else {
				if got.Embeddings == nil || len(got.Embeddings.Data) != 2 {
					t.Fatalf("embeddings: %+v %+v", got.Embeddings, got.EmbeddingsError)
				}
				for i, in := range []string{"hello", "world!"} {
					want := aitest.Embedding(in, 0)
					for k := range want {
						if got.Embeddings.Data[i][k] != float64(want[k]) {
							t.Errorf("embedding %d = %v, want %v", i, got.Embeddings.Data[i], want)
							break
						}
					}
				}
			}
			if e := got.NotAllowed; e == nil || e.Status != 403 || e.Code != ai.CodeModelNotAllowed || e.RequestID == "" ||
				!strings.Contains(e.Message, ai.CodeModelNotAllowed) || !strings.Contains(e.Message, e.RequestID) {
				t.Errorf("not allowed: %+v", e)
			}
			if m := got.MidStream; m == nil || !strings.Contains(m.Message, ai.CodeProviderError) || !requestIDIn.MatchString(m.Message) {
				t.Errorf("mid-stream failure: %+v", m)
			}
		})
	}
}

// npmResult is what sdk.cjs prints per provider.
type npmResult struct {
	Plain struct {
		Text   string     `json:"text"`
		Usage  *usageJSON `json:"usage"`
		Finish string     `json:"finish"`
	} `json:"plain"`
	Stream      npmStream `json:"stream"`
	Tools       npmStream `json:"tools"`
	ToolsStream npmStream `json:"toolsStream"`
	ToolResult  string    `json:"toolResult"`
	Embeddings  *struct {
		Data  [][]float64 `json:"data"`
		Usage usageJSON   `json:"usage"`
	} `json:"embeddings"`
	EmbeddingsError *npmError `json:"embeddingsError"`
	NotAllowed      *npmError `json:"notAllowed"`
	MidStream       *struct {
		Message string `json:"message"`
	} `json:"midStream"`
}

// requestIDIn finds "request <ULID>" in an SDK error message.
var requestIDIn = regexp.MustCompile(`request [0-9A-HJKMNP-TV-Z]{26}`)

type npmStream struct {
	Text        string     `json:"text"`
	Usage       *usageJSON `json:"usage"`
	UsageChunks int        `json:"usageChunks"`
	Finish      string     `json:"finish"`
	ToolCalls   []struct {
		ID        string `json:"id"`
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"toolCalls"`
}

type npmError struct {
	Status    int    `json:"status"`
	Code      string `json:"code"`
	Param     string `json:"param"`
	Message   string `json:"message"`
	RequestID string `json:"requestID"`
}
