package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"gatehouse/internal/store"
	"gatehouse/internal/store/sqlite"
)

// flushWindow is the durability window we state: a call record whose
// response reached the client more than this long before a kill -9 is in
// the store. It is the configured flush interval (200 ms, the default)
// plus the time one batch insert takes, rounded up generously for this
// shared 2-core machine.
const flushWindow = time.Second

// TestKill9LosesNoAcknowledgedRecord runs the gateway under load, kills it
// with SIGKILL, and checks that every call acknowledged before
// kill − flushWindow has its record.
func TestKill9LosesNoAcknowledgedRecord(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }))
	defer up.Close()
	dir := t.TempDir()
	db := filepath.Join(dir, "gatehouse.db")
	n := startNode(t, dir, fmt.Sprintf("proxy_addr: 127.0.0.1:0\nadmin_addr: 127.0.0.1:0\ndatabase: sqlite://%s\nlog_level: warn\ncall_log:\n  flush_interval: 200ms\n", db))
	ten := n.adminPost(t, "/admin/v1/tenants", map[string]any{"slug": "acme", "name": "Acme"})["id"]
	con := n.adminPost(t, "/admin/v1/consumers", map[string]any{"tenant": ten, "name": "app"})["id"]
	svc := n.adminPost(t, "/admin/v1/services", map[string]any{"tenant": ten, "name": "svc", "targets": []string{up.URL}})["id"]
	n.adminPost(t, "/admin/v1/routes", map[string]any{"service": svc, "paths": []string{"/"}})
	key := n.adminPost(t, "/admin/v1/keys", map[string]any{"consumer": con})["key"].(string)

	type ack struct {
		id string
		at time.Time
	}
	var mu sync.Mutex
	var acks []ack
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				req, _ := http.NewRequestWithContext(ctx, "GET", n.proxy+"/x", nil)
				if i%3 != 0 { // a mix of allowed and rejected calls
					req.Header.Set("Authorization", "Bearer "+key)
				}
				resp, err := client.Do(req)
				if err != nil {
					return
				}
				resp.Body.Close()
				mu.Lock()
				acks = append(acks, ack{resp.Header.Get("X-Request-Id"), time.Now()})
				mu.Unlock()
			}
		}(g)
	}
	time.Sleep(1500 * time.Millisecond)
	killedAt := time.Now()
	if err := n.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = n.cmd.Wait()
	stop()
	wg.Wait()

	st, err := sqlite.Open(context.Background(), "sqlite://"+db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var must, missing int
	for _, a := range acks {
		if a.at.After(killedAt.Add(-flushWindow)) {
			continue
		}
		must++
		if _, err := st.GetCall(context.Background(), a.id); err != nil {
			missing++
			if missing < 5 {
				t.Errorf("call %s acknowledged %v before the kill is missing: %v", a.id, killedAt.Sub(a.at), err)
			}
		}
	}
	t.Logf("%d calls acknowledged, %d older than the %v window, %d missing", len(acks), must, flushWindow, missing)
	if must < 100 {
		t.Fatalf("load too small to mean anything: %d calls before the window", must)
	}
	if missing > 0 {
		t.Fatalf("%d acknowledged records lost", missing)
	}
	_ = store.ErrNotFound
}
