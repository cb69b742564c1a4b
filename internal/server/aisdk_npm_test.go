package server

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gatehouse/internal/ai"
	"gatehouse/internal/ai/aitest"
	"gatehouse/internal/npmtest"
)

// TestAIGatewayNPMOpenAISDK: the official npm openai SDK
// (testdata/npm/sdk.cjs, run by node) through the whole gateway in front of
// each fake provider kind, with a real Gatehouse key: chat plain and
// streamed (same text, the provider's usage), tool calls plain and
// streamed and the tool result's turn, embeddings (the SDK's default
// base64); every call on the call log with provider, model, tokens and
// exact cost. Then a revoked key and an over-budget key surface as SDK
// errors whose message carries our reason code and the request ID of the
// gateway's X-Request-Id. The package is installed with npm ci from
// testdata/npm into the git-ignored .npm-tests/server/ when missing.
// Skipped only when node is absent and CI is not set; under CI a missing
// node fails.
func TestAIGatewayNPMOpenAISDK(t *testing.T) {
	node := npmtest.Node(t, "npm openai SDK test")
	modules := npmtest.Install(t, "server", "openai")
	g := newAISDKGateway(t)
	type route struct {
		BaseURL string `json:"baseURL"`
		Model   string `json:"model"`
	}
	routes := map[string]route{}
	for _, c := range aiSDKCases {
		routes[string(c.kind)] = route{BaseURL: g.h.proxy + sdkPrefix(c.kind) + "/v1", Model: sdkAlias(c.kind)}
	}
	list, _ := json.Marshal(routes)

	var all map[string]npmCalls
	runNode(t, node, modules, &all, "MODE=calls", "ROUTES="+string(list), "API_KEY="+g.key)
	for _, c := range aiSDKCases {
		t.Run(string(c.kind), func(t *testing.T) {
			got, ok := all[string(c.kind)]
			if !ok {
				t.Fatalf("no results for %s", c.kind)
			}
			chatRecord := recordWant{kind: c.kind, usage: c.want, cost: c.cost}
			if got.Plain.Text != sdkText || got.Plain.Finish != "stop" || got.Plain.Usage.sdk() != c.want {
				t.Errorf("plain %+v, want %q with usage %+v", got.Plain, sdkText, c.want)
			}
			g.checkRecord(t, "plain", got.Plain.RequestID, chatRecord)
			if got.Stream.Text != got.Plain.Text || got.Stream.Finish != "stop" || got.Stream.UsageChunks != 1 || got.Stream.Usage.sdk() != c.want {
				t.Errorf("stream %+v, want the plain text %q and one usage chunk %+v", got.Stream, got.Plain.Text, c.want)
			}
			g.checkRecord(t, "stream", got.Stream.RequestID, chatRecord)

			if got.Tools.Usage.sdk() != c.want {
				t.Errorf("tools usage %+v, want %+v", got.Tools.Usage, c.want)
			}
			for _, s := range []struct {
				name string
				s    npmStream
			}{{"tools", got.Tools}, {"tools stream", got.ToolsStream}} {
				if s.s.Finish != "tool_calls" || len(s.s.ToolCalls) != 1 || s.s.ToolCalls[0].Name != sdkToolCall.Name ||
					!jsonSame(s.s.ToolCalls[0].Arguments, sdkToolCall.Args) || s.s.ToolCalls[0].ID == "" {
					t.Errorf("%s: %+v", s.name, s.s)
				}
				g.checkRecord(t, s.name, s.s.RequestID, chatRecord)
			}
			// The client did not ask for usage: the chunk the gateway forced
			// upstream never reaches it.
			if got.ToolsStream.UsageChunks != 0 {
				t.Errorf("tools stream: %d usage chunks without include_usage", got.ToolsStream.UsageChunks)
			}
			if got.ToolResult != "21 degrees." {
				t.Errorf("tool result turn: %q", got.ToolResult)
			}

			if !c.embeddings {
				if e := got.EmbeddingsError; e == nil || e.Status != 400 || e.Code != ai.CodeBadRequest || e.Param != "model" ||
					e.RequestID == "" || !strings.Contains(e.Message, e.RequestID) {
					t.Errorf("%s embeddings: %+v", c.kind, e)
				}
				return
			}
			emb := got.Embeddings
			if emb == nil || len(emb.Data) != 2 {
				t.Fatalf("embeddings: %+v %+v", emb, got.EmbeddingsError)
			}
			for i, in := range []string{"hello", "world!"} {
				want := aitest.Embedding(in, 0)
				if len(emb.Data[i]) != len(want) {
					t.Fatalf("embedding %d = %v, want %v", i, emb.Data[i], want)
				}
				for k := range want {
					if emb.Data[i][k] != float64(want[k]) {
						t.Errorf("embedding %d = %v, want %v", i, emb.Data[i], want)
						break
					}
				}
			}
			n, est := emb.Usage.PromptTokens, c.kind == aitest.Gemini
			if (!est && n != g.embeddingsInput) || n == 0 || emb.Usage.TotalTokens != n {
				t.Errorf("embeddings usage %+v", emb.Usage)
			}
			g.checkRecord(t, "embeddings", emb.RequestID, recordWant{kind: c.kind, usage: sdkUsage{prompt: n}, cost: embeddingsCost(n), estimated: est})
		})
	}

	t.Run("rejections", func(t *testing.T) {
		g.spendBudget(t)
		g.revoke()
		keys, _ := json.Marshal(map[string]string{"revoked": g.key, "over-budget": g.broke})
		var fails map[string]map[string]struct{ Plain, Stream *npmError }
		runNode(t, node, modules, &fails, "MODE=errors", "ROUTES="+string(list), "KEYS="+string(keys))
		for _, tc := range []struct {
			label, code string
			status      int
		}{{"revoked", "key.revoked", 401}, {"over-budget", "budget.exceeded", 429}} {
			for _, c := range aiSDKCases {
				got := fails[tc.label][string(c.kind)]
				for what, e := range map[string]*npmError{"plain": got.Plain, "stream": got.Stream} {
					what = tc.label + " " + string(c.kind) + " " + what
					// The message the SDK shows ("401 Key gk_live_… was
					// revoked … (key.revoked, request 01…) …") carries both.
					if e == nil || e.Status != tc.status || e.Code != tc.code || e.Header == "" || e.RequestID != e.Header ||
						!strings.Contains(e.Message, tc.code) || !strings.Contains(e.Message, e.Header) {
						t.Errorf("%s: %+v", what, e)
						continue
					}
					g.checkRejection(t, what, e.Header, tc.code, tc.status)
				}
			}
		}
		g.checkKeysStayed(t)
	})
}

// runNode runs sdk.cjs with env and decodes its output into out.
func runNode(t *testing.T, node, modules string, out any, env ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join("testdata", "npm", "sdk.cjs"))
	cmd.Env = append(append(os.Environ(), "NODE_PATH="+modules), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s\n%s", err, b, stderr.String())
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("node output %s: %v", b, err)
	}
}

// npmCalls is what sdk.cjs prints per route in calls mode.
type npmCalls struct {
	Plain struct {
		Text      string       `json:"text"`
		Usage     npmUsageJSON `json:"usage"`
		Finish    string       `json:"finish"`
		RequestID string       `json:"requestID"`
	} `json:"plain"`
	Stream      npmStream `json:"stream"`
	Tools       npmStream `json:"tools"`
	ToolsStream npmStream `json:"toolsStream"`
	ToolResult  string    `json:"toolResult"`
	Embeddings  *struct {
		Data      [][]float64  `json:"data"`
		Usage     npmUsageJSON `json:"usage"`
		RequestID string       `json:"requestID"`
	} `json:"embeddings"`
	EmbeddingsError *npmError `json:"embeddingsError"`
}

type npmStream struct {
	Text        string       `json:"text"`
	Usage       npmUsageJSON `json:"usage"`
	UsageChunks int          `json:"usageChunks"`
	Finish      string       `json:"finish"`
	RequestID   string       `json:"requestID"`
	ToolCalls   []struct {
		ID        string `json:"id"`
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"toolCalls"`
}

// npmUsageJSON is the OpenAI usage object as the SDK returned it.
type npmUsageJSON struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	TotalTokens         int64 `json:"total_tokens"`
	PromptTokensDetails struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
}

func (u npmUsageJSON) sdk() sdkUsage {
	return sdkUsage{u.PromptTokens, u.PromptTokensDetails.CachedTokens, u.CompletionTokens, u.CompletionTokensDetails.ReasoningTokens, u.TotalTokens}
}

// npmError is an SDK APIError: its message, our code and param, and the
// request ID the SDK read from X-Request-Id (twice: the SDK's requestID
// and the header itself).
type npmError struct {
	Status    int    `json:"status"`
	Code      string `json:"code"`
	Param     string `json:"param"`
	Message   string `json:"message"`
	RequestID string `json:"requestID"`
	Header    string `json:"header"`
}
