package ai_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"gatehouse/internal/ai"
	"gatehouse/internal/ai/aitest"
)

// The official openai-go SDK, with only its base URL and API key changed,
// against the handler in front of each fake provider: chat plain and
// streamed, tool calls, embeddings, and our errors as SDK errors.

func sdk(baseURL string) openai.Client {
	return openai.NewClient(option.WithBaseURL(baseURL), option.WithAPIKey(gatewayKey), option.WithMaxRetries(0))
}

var sdkTools = []openai.ChatCompletionToolUnionParam{
	openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name:        "get_weather",
		Description: openai.String("Weather of a city"),
		Parameters: openai.FunctionParameters{"type": "object",
			"properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []string{"city"}},
	}),
}

func TestOpenAIGoSDK(t *testing.T) {
	const text = "The sky is blue because of Rayleigh scattering."
	for _, pc := range providerCases {
		t.Run(string(pc.kind), func(t *testing.T) {
			ctx := context.Background()
			f := aitest.New(t, pc.kind)
			call := aitest.ToolCall{ID: "toolu_01A", Name: "get_weather", Args: `{"city":"Paris"}`}
			f.Script(func(r aitest.Request) aitest.Scenario {
				body := string(r.Body)
				switch {
				case strings.Contains(body, `temp`): // the tool result came back
					return aitest.Scenario{Text: "21 degrees.", Usage: pc.usage}
				case strings.Contains(body, "get_weather"):
					return aitest.Scenario{ToolCalls: []aitest.ToolCall{call}, Usage: pc.usage}
				}
				return aitest.Scenario{Text: text, Usage: pc.usage, Reasoning: pc.reasoning}
			})
			g := newGateway(t, oneModel(f, "upstream"), nil)
			c := sdk(g.URL + "/ai/v1/")
			params := openai.ChatCompletionNewParams{Model: "m", Messages: []openai.ChatCompletionMessageParamUnion{
				openai.SystemMessage("You are terse."), openai.UserMessage("Why is the sky blue?")}}

			// Plain.
			resp, err := c.Chat.Completions.New(ctx, params)
			if err != nil {
				t.Fatalf("plain: %v", err)
			}
			g.result(t)
			if resp.Choices[0].Message.Content != text || resp.Choices[0].FinishReason != "stop" {
				t.Errorf("plain: %q %q", resp.Choices[0].Message.Content, resp.Choices[0].FinishReason)
			}
			checkSDKUsage(t, "plain", resp.Usage, pc.want)

			// Streamed, with usage.
			params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
			stream := c.Chat.Completions.NewStreaming(ctx, params)
			acc := openai.ChatCompletionAccumulator{}
			var deltas strings.Builder
			for stream.Next() {
				ch := stream.Current()
				acc.AddChunk(ch)
				if len(ch.Choices) > 0 {
					deltas.WriteString(ch.Choices[0].Delta.Content)
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatalf("stream: %v", err)
			}
			res := g.result(t)
			if deltas.String() != resp.Choices[0].Message.Content || acc.Choices[0].Message.Content != text {
				t.Errorf("streamed text %q (accumulated %q) != plain text %q", deltas.String(), acc.Choices[0].Message.Content, resp.Choices[0].Message.Content)
			}
			checkSDKUsage(t, "stream", acc.Usage, pc.want)
			if res.Usage != pc.want {
				t.Errorf("Result usage %+v", res.Usage)
			}

			// Tool calls, plain then streamed, then the tool result.
			tparams := openai.ChatCompletionNewParams{Model: "m", Tools: sdkTools,
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Weather in Paris?")}}
			tresp, err := c.Chat.Completions.New(ctx, tparams)
			if err != nil {
				t.Fatalf("tools: %v", err)
			}
			g.result(t)
			tcs := tresp.Choices[0].Message.ToolCalls
			if len(tcs) != 1 || tcs[0].Function.Name != "get_weather" || !jsonEqual(tcs[0].Function.Arguments, call.Args) || tcs[0].ID == "" || tresp.Choices[0].FinishReason != "tool_calls" {
				t.Fatalf("tool call: %+v finish %q", tcs, tresp.Choices[0].FinishReason)
			}
			tstream := c.Chat.Completions.NewStreaming(ctx, tparams)
			tacc := openai.ChatCompletionAccumulator{}
			for tstream.Next() {
				tacc.AddChunk(tstream.Current())
			}
			if err := tstream.Err(); err != nil {
				t.Fatalf("tool stream: %v", err)
			}
			g.result(t)
			stc := tacc.Choices[0].Message.ToolCalls
			if len(stc) != 1 || stc[0].Function.Name != "get_weather" || !jsonEqual(stc[0].Function.Arguments, call.Args) || tacc.Choices[0].FinishReason != "tool_calls" {
				t.Errorf("streamed tool call: %+v finish %q", stc, tacc.Choices[0].FinishReason)
			}
			tparams.Messages = append(tparams.Messages, tresp.Choices[0].Message.ToParam(), openai.ToolMessage(`{"temp":21}`, tcs[0].ID))
			final, err := c.Chat.Completions.New(ctx, tparams)
			if err != nil {
				t.Fatalf("tool result turn: %v", err)
			}
			g.result(t)
			if final.Choices[0].Message.Content != "21 degrees." {
				t.Errorf("after the tool result: %q", final.Choices[0].Message.Content)
			}

			// Embeddings, float and base64 (the SDK decodes base64).
			for _, format := range []openai.EmbeddingNewParamsEncodingFormat{openai.EmbeddingNewParamsEncodingFormatFloat, openai.EmbeddingNewParamsEncodingFormatBase64} {
				emb, err := c.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "m", EncodingFormat: format,
					Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"hello", "world!"}}})
				res := g.result(t)
				if pc.kind == aitest.Anthropic {
					var apiErr *openai.Error
					if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Code != ai.CodeBadRequest || apiErr.Param != "model" {
						t.Errorf("anthropic embeddings: %v", err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("embeddings %s: %v", format, err)
				}
				for i, in := range []string{"hello", "world!"} {
					want := aitest.Embedding(in, 0)
					got := emb.Data[i].Embedding
					if len(got) != len(want) {
						t.Fatalf("embedding %d: %v", i, got)
					}
					for k := range want {
						if got[k] != float64(want[k]) {
							t.Errorf("%s embedding %d: %v, want %v", format, i, got, want)
							break
						}
					}
				}
				if emb.Usage.PromptTokens != res.Usage.PromptTokens || res.Usage.PromptTokens == 0 {
					t.Errorf("embeddings usage %d, Result %+v", emb.Usage.PromptTokens, res.Usage)
				}
			}
		})
	}
}

func checkSDKUsage(t *testing.T, where string, u openai.CompletionUsage, want ai.Usage) {
	t.Helper()
	if u.PromptTokens != want.PromptTokens || u.CompletionTokens != want.CompletionTokens || u.TotalTokens != want.TotalTokens ||
		u.PromptTokensDetails.CachedTokens != want.CachedPromptTokens || u.CompletionTokensDetails.ReasoningTokens != want.ReasoningTokens {
		t.Errorf("%s: SDK usage %d/%d/%d cached %d reasoning %d; want %+v", where, u.PromptTokens, u.CompletionTokens, u.TotalTokens,
			u.PromptTokensDetails.CachedTokens, u.CompletionTokensDetails.ReasoningTokens, want)
	}
}

// TestOpenAIGoSDKErrors: our rejections surface in the SDK with the
// reason code and the request ID.
func TestOpenAIGoSDKErrors(t *testing.T) {
	ctx := context.Background()
	f := aitest.New(t, aitest.Anthropic)
	g := newGateway(t, []*ai.Model{model("m", ai.Target{Provider: f.Provider("p"), Model: "x"}),
		model("other", ai.Target{Provider: f.Provider("p"), Model: "y"})}, nil)
	g.allow("m")
	c := sdk(g.URL + "/ai/v1/")
	msgs := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}
	for _, tc := range []struct {
		model, code string
		status      int
	}{{"other", ai.CodeModelNotAllowed, 403}, {"nope", ai.CodeModelUnknown, 404}} {
		_, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: tc.model, Messages: msgs})
		g.result(t)
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) {
			t.Fatalf("%s: %v", tc.model, err)
		}
		rid := apiErr.Response.Header.Get("X-Request-Id")
		if apiErr.StatusCode != tc.status || apiErr.Code != tc.code || rid == "" || !strings.Contains(apiErr.Message, rid) || !strings.Contains(apiErr.Message, tc.code) {
			t.Errorf("%s: status %d code %q message %q (request %s)", tc.model, apiErr.StatusCode, apiErr.Code, apiErr.Message, rid)
		}
	}

	// A failure after the first streamed byte: the SDK's stream error
	// carries the code and the request ID.
	f.Set(aitest.Scenario{Chunks: []string{"a", "b", "c"}, Fail: aitest.FailError, FailAt: 1})
	stream := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "m", Messages: msgs})
	var got string
	for stream.Next() {
		if ch := stream.Current(); len(ch.Choices) > 0 {
			got += ch.Choices[0].Delta.Content
		}
	}
	res := g.result(t)
	err := stream.Err()
	if got != "a" || err == nil || !strings.Contains(err.Error(), ai.CodeProviderError) || res.Err == nil {
		t.Fatalf("stream: text %q err %v", got, err)
	}
	if !strings.Contains(err.Error(), `"request_id":"`) {
		t.Errorf("stream error without request id: %v", err)
	}
}

// TestOpenAIGoSDKCumulativeUsage: providers that repeat a cumulative usage
// in every chunk (or message_delta) still give the SDK's accumulator the
// provider's totals — it adds every usage it sees, so the gateway sends
// exactly one.
func TestOpenAIGoSDKCumulativeUsage(t *testing.T) {
	for _, pc := range providerCases {
		t.Run(string(pc.kind), func(t *testing.T) {
			f := aitest.New(t, pc.kind)
			f.Set(aitest.Scenario{Text: "Hello from the fake.", Usage: pc.usage, UsageMode: aitest.UsageEveryChunk})
			g := newGateway(t, oneModel(f, "x"), nil)
			c := sdk(g.URL + "/ai/v1/")
			s := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{Model: "m",
				Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
				StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}})
			acc := openai.ChatCompletionAccumulator{}
			for s.Next() {
				acc.AddChunk(s.Current())
			}
			if s.Err() != nil {
				t.Fatal(s.Err())
			}
			g.result(t)
			checkSDKUsage(t, "accumulated", acc.Usage, pc.want)
		})
	}
}
