package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"gatehouse/internal/config"
	"gatehouse/internal/webhook"
)

// A subscription request reaches the configured webhook, signed.
func TestSubscriptionWebhook(t *testing.T) {
	secret := "whsec-0123456789abcdef"
	got := make(chan map[string]any, 4)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify([]byte(secret), r.Header.Get("Gatehouse-Signature"), body, t0, time.Hour); err != nil {
			t.Errorf("bad signature: %v", err)
		}
		var ev map[string]any
		_ = json.Unmarshal(body, &ev)
		got <- ev
	}))
	defer recv.Close()
	h := newHarness(t, func(c *config.Config) {
		c.Webhooks = config.Webhooks{URLs: []string{recv.URL}, Secret: secret}
	})
	owner := h.newWorld("payments", nil, nil)
	h.mustAdmin("PATCH", "/admin/v1/services/"+owner.service, map[string]any{"visibility": "published"})
	shop := h.newWorld("shop", nil, nil)
	h.mustAdmin("POST", "/admin/v1/subscriptions", map[string]any{"consumer": shop.consumer, "service": owner.service})
	select {
	case ev := <-got:
		if ev["type"] != "subscription.requested" {
			t.Fatalf("event %v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no webhook within 5s")
	}
}
