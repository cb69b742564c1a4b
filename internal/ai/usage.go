package ai

import (
	"unicode/utf8"
)

// Usage is what one call consumed, in the OpenAI sense: PromptTokens
// includes cached and cache-write tokens, CompletionTokens includes
// reasoning tokens.
type Usage struct {
	PromptTokens int64
	// CachedPromptTokens were read from the provider's prompt cache
	// (priced at CachedInputPer1M).
	CachedPromptTokens int64
	// CacheWriteTokens were written to Anthropic's prompt cache
	// (cache_creation_input_tokens).
	CacheWriteTokens int64
	CompletionTokens int64
	// ReasoningTokens is the part of CompletionTokens spent thinking
	// (OpenAI reasoning_tokens, Gemini thoughtsTokenCount).
	ReasoningTokens int64
	TotalTokens     int64
	// Estimated is true when any count was not reported by the provider
	// (usage absent, or the stream ended before the usage arrived) and
	// was estimated by the gateway; the call record says so.
	Estimated bool
}

// Add returns u + v, for rollups and budget settlement (Estimated if
// either is).
func (u Usage) Add(v Usage) Usage {
	return Usage{
		PromptTokens:       u.PromptTokens + v.PromptTokens,
		CachedPromptTokens: u.CachedPromptTokens + v.CachedPromptTokens,
		CacheWriteTokens:   u.CacheWriteTokens + v.CacheWriteTokens,
		CompletionTokens:   u.CompletionTokens + v.CompletionTokens,
		ReasoningTokens:    u.ReasoningTokens + v.ReasoningTokens,
		TotalTokens:        u.TotalTokens + v.TotalTokens,
		Estimated:          u.Estimated || v.Estimated,
	}
}

// EstimateTokens is the gateway's estimate when a provider reports no
// usage: one token per started group of four characters (runes), the
// rule of thumb OpenAI documents for English text. It is deliberately
// simple and documented, so a caller can recompute an estimated record.
func EstimateTokens(s string) int64 {
	return int64((utf8.RuneCountInString(s) + 3) / 4)
}

// perMessageTokens is the estimate's overhead per chat message (role and
// separators), after OpenAI's cookbook counting.
const perMessageTokens = 4

// Image estimates, from OpenAI's vision pricing: detail "low" is a flat 85
// tokens; otherwise 85 plus 170 per 512-pixel tile of the scaled image, at
// most 8 tiles (768 × 2048 after scaling) — the estimate takes the most,
// since the gateway does not decode images.
const (
	imageLowTokens  = 85
	imageHighTokens = 85 + 170*8
)

// estimatePrompt estimates a chat request: per message, its text parts,
// images, tool-call names and arguments and a fixed overhead; the tool
// definitions and a response_format schema, which the provider also
// counts as input. It is the reservation's prompt size, so it must not
// undercount what a request can cost: a request whose tool schemas are
// larger than its messages would otherwise reserve too little, and
// concurrent requests could overspend a budget by more than one
// reservation.
func estimatePrompt(req *chatRequest) int64 {
	var n int64
	for i := range req.Messages {
		m := &req.Messages[i]
		n += perMessageTokens + EstimateTokens(m.text())
		for _, p := range m.parts {
			if p.ImageURL != nil {
				if p.ImageURL.Detail == "low" {
					n += imageLowTokens
				} else {
					n += imageHighTokens
				}
			}
		}
		for _, tc := range m.ToolCalls {
			n += EstimateTokens(tc.Function.Name) + EstimateTokens(tc.Function.Arguments)
		}
	}
	for _, t := range req.Tools {
		n += perMessageTokens + EstimateTokens(t.Function.Name) + EstimateTokens(t.Function.Description) +
			EstimateTokens(string(t.Function.Parameters))
	}
	if rf := req.ResponseFormat; rf != nil && rf.JSONSchema != nil {
		n += EstimateTokens(rf.JSONSchema.Name) + EstimateTokens(string(rf.JSONSchema.Schema))
	}
	return n
}

// usageJSON is the OpenAI usage object.
type usageJSON struct {
	PromptTokens            int64          `json:"prompt_tokens"`
	CompletionTokens        int64          `json:"completion_tokens"`
	TotalTokens             int64          `json:"total_tokens"`
	PromptTokensDetails     *promptDetails `json:"prompt_tokens_details,omitempty"`
	CompletionTokensDetails *complDetails  `json:"completion_tokens_details,omitempty"`
}

type promptDetails struct {
	CachedTokens int64 `json:"cached_tokens"`
}

type complDetails struct {
	ReasoningTokens int64 `json:"reasoning_tokens"`
}

func (j *usageJSON) usage() Usage {
	u := Usage{PromptTokens: j.PromptTokens, CompletionTokens: j.CompletionTokens, TotalTokens: j.TotalTokens}
	if j.PromptTokensDetails != nil {
		u.CachedPromptTokens = j.PromptTokensDetails.CachedTokens
	}
	if j.CompletionTokensDetails != nil {
		u.ReasoningTokens = j.CompletionTokensDetails.ReasoningTokens
	}
	if u.TotalTokens == 0 {
		u.TotalTokens = u.PromptTokens + u.CompletionTokens
	}
	return u
}

func toUsageJSON(u Usage) *usageJSON {
	return &usageJSON{
		PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.TotalTokens,
		PromptTokensDetails:     &promptDetails{CachedTokens: u.CachedPromptTokens},
		CompletionTokensDetails: &complDetails{ReasoningTokens: u.ReasoningTokens},
	}
}
