package alerts

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"gatehouse/internal/clock"
	"gatehouse/internal/domain"
	"gatehouse/internal/store"
	"gatehouse/internal/store/sqlite"
	"gatehouse/internal/webhook"
)

var (
	t0     = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	secret = []byte("alerts-test-secret-0123456789abcdef")
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func openStoreB(t testing.TB) *sqlite.Store { return openStore(t) }

func putRulesB(t testing.TB, st store.Store, rules ...domain.AlertRule) { putRules(t, st, rules...) }

func openStore(t testing.TB) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), "sqlite://"+filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// putRules stores rules (normalized) in one Update.
func putRules(t testing.TB, st store.Store, rules ...domain.AlertRule) []domain.AlertRule {
	t.Helper()
	out := make([]domain.AlertRule, len(rules))
	err := st.Update(t.Context(), func(tx store.Tx) error {
		for i, r := range rules {
			if err := Normalize(&r); err != nil {
				return err
			}
			r.CreatedAt, r.UpdatedAt = t0, t0
			if err := tx.(store.AlertRuleTx).PutAlertRule(t.Context(), r); err != nil {
				return err
			}
			out[i] = r
		}
		return nil
	})
	if err != nil {
		t.Fatalf("put rules: %v", err)
	}
	return out
}

// delivery is one webhook request as the receiver saw it.
type delivery struct {
	eventID string
	attempt string
	typ     string
	alert   domain.Alert
	// verr is webhook.Verify's verdict on the signature, checked by the
	// receiver itself as a real one would.
	verr   error
	status int
}

// receiver is a real HTTP server receiving alert webhooks; fail decides
// per request (numbered from 1) whether to answer 503 instead of 204.
type receiver struct {
	srv    *httptest.Server
	clock  clock.Clock
	mu     sync.Mutex
	got    []delivery
	fail   func(n int) bool
	arrive chan struct{}
}

func newReceiver(t *testing.T, clk clock.Clock, fail func(n int) bool) *receiver {
	rc := &receiver{clock: clk, fail: fail, arrive: make(chan struct{}, 100)}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		d := delivery{eventID: r.Header.Get(webhook.EventIDHeader), attempt: r.Header.Get(webhook.AttemptHeader),
			typ: r.Header.Get(webhook.EventHeader),
			// A day's tolerance: the tests jump their fake clock by minutes
			// between steps while a delivery may still be in flight (a late
			// first attempt was "signed 10m ago" under load). The signature
			// is what is checked here; freshness is internal/webhook's test.
			verr: webhook.Verify(secret, r.Header.Get(webhook.SignatureHeader), b, rc.clock.Now(), 24*time.Hour)}
		var ev struct {
			Data domain.Alert `json:"data"`
		}
		if err := json.Unmarshal(b, &ev); err != nil {
			d.verr = err
		}
		d.alert = ev.Data
		rc.mu.Lock()
		d.status = http.StatusNoContent
		if rc.fail != nil && rc.fail(len(rc.got)+1) {
			d.status = http.StatusServiceUnavailable
		}
		rc.got = append(rc.got, d)
		rc.mu.Unlock()
		w.WriteHeader(d.status)
		rc.arrive <- struct{}{}
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

// wait waits for n more requests (a guard against a hang, not a sleep: it
// returns as soon as they arrived).
func (rc *receiver) wait(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-rc.arrive:
		case <-time.After(10 * time.Second):
			t.Fatalf("webhook receiver: timed out waiting for a delivery")
		}
	}
}

// calls builds n calls of consumer at times start, start+1ms, … with
// status and code.
func calls(n int, start time.Time, consumer, code string, status int) []domain.Call {
	out := make([]domain.Call, n)
	for i := range out {
		out[i] = domain.Call{RequestID: fmt.Sprintf("%s-%s-%d-%d", consumer, code, start.UnixNano(), i),
			Time: start.Add(time.Duration(i) * time.Millisecond), TenantID: "ten_1", ConsumerID: consumer, RouteID: "rte_1",
			CredentialID: "cred_" + consumer, CredentialType: domain.AuthJWT, Method: "GET", Path: "/v1/x", Status: status, Code: code}
	}
	return out
}

// newEngine starts an engine without background loops on st.
func newEngine(t *testing.T, st store.Store, clk clock.Clock, mod func(*Options)) *Engine {
	t.Helper()
	o := Options{Store: st, Clock: clk, Logger: quiet(), NoBackground: true}
	if mod != nil {
		mod(&o)
	}
	e, err := New(t.Context(), o)
	if err != nil {
		t.Fatalf("alerts.New: %v", err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	return e
}

// storedAlerts lists every stored alert, newest first.
func storedAlerts(t *testing.T, st store.Store, f store.AlertFilter) []domain.Alert {
	t.Helper()
	items, _, err := st.(store.Analytics).ListAlerts(t.Context(), f)
	if err != nil {
		t.Fatal(err)
	}
	return items
}

func flush(t *testing.T, e *Engine) {
	t.Helper()
	if err := e.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
}
