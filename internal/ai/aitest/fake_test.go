package aitest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"gatehouse/internal/ai/aitest"
)

// TestOpenAIFakeWithSDK proves the OpenAI fake faithful: the official
// openai-go SDK, pointed straight at it, reads its answers, streams, usage,
// tool calls, embeddings and errors.
func TestOpenAIFakeWithSDK(t *testing.T) {
	ctx := context.Background()
	f := aitest.New(t, aitest.OpenAI)
	c := openai.NewClient(option.WithBaseURL(f.URL+"/v1/"), option.WithAPIKey(f.Keys[0]), option.WithMaxRetries(0))
	f.Set(aitest.Scenario{Text: "Hello there.", Usage: aitest.Usage{Input: 13, CachedInput: 3, Output: 12, Reasoning: 2}})
	msgs := []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}

	resp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini", Messages: msgs})
	if err != nil || resp.Choices[0].Message.Content != "Hello there." || resp.Usage.PromptTokens != 13 ||
		resp.Usage.PromptTokensDetails.CachedTokens != 3 || resp.Usage.CompletionTokensDetails.ReasoningTokens != 2 {
		t.Fatalf("plain: %v %+v", err, resp)
	}

	for _, mode := range []aitest.UsageMode{aitest.UsageFinal, aitest.UsageEveryChunk} {
		f.Set(aitest.Scenario{Text: "Hello there.", Usage: aitest.Usage{Input: 13, Output: 12}, UsageMode: mode})
		s := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini", Messages: msgs,
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}})
		acc := openai.ChatCompletionAccumulator{}
		var last openai.CompletionUsage
		for s.Next() {
			acc.AddChunk(s.Current())
			if u := s.Current().Usage; u.TotalTokens > 0 {
				last = u // cumulative in every chunk for UsageEveryChunk: the last is the total
			}
		}
		if s.Err() != nil || acc.Choices[0].Message.Content != "Hello there." || last.CompletionTokens != 12 || last.TotalTokens != 25 {
			t.Errorf("stream (usage mode %d): %v %q %+v", mode, s.Err(), acc.Choices[0].Message.Content, last)
		}
	}

	f.Set(aitest.Scenario{ToolCalls: []aitest.ToolCall{{ID: "call_1", Name: "f", Args: `{"a":1}`}, {ID: "call_2", Name: "g", Args: `{}`}}})
	s := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini", Messages: msgs})
	acc := openai.ChatCompletionAccumulator{}
	for s.Next() {
		acc.AddChunk(s.Current())
	}
	if tc := acc.Choices[0].Message.ToolCalls; s.Err() != nil || len(tc) != 2 || tc[0].Function.Arguments != `{"a":1}` || tc[1].ID != "call_2" {
		t.Errorf("tool stream: %v %+v", s.Err(), tc)
	}

	emb, err := c.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "text-embedding-3-small", EncodingFormat: openai.EmbeddingNewParamsEncodingFormatBase64,
		Input: openai.EmbeddingNewParamsInputUnion{OfString: openai.String("hello")}})
	if err != nil || len(emb.Data) != 1 || emb.Data[0].Embedding[0] != float64(aitest.Embedding("hello", 0)[0]) {
		t.Errorf("embeddings: %v %+v", err, emb)
	}

	f.Set(aitest.Scenario{Status: 429, RetryAfter: 1})
	_, err = c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini", Messages: msgs})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 || apiErr.Code != "rate_limit_exceeded" {
		t.Errorf("429: %v", err)
	}
	bad := openai.NewClient(option.WithBaseURL(f.URL+"/v1/"), option.WithAPIKey("sk-wrong"), option.WithMaxRetries(0))
	_, err = bad.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o-mini", Messages: msgs})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 401 || apiErr.Code != "invalid_api_key" {
		t.Errorf("wrong key: %v", err)
	}
}
