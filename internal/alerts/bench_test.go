package alerts

import (
	"fmt"
	"testing"
	"time"

	"gatehouse/internal/clock"
	"gatehouse/internal/domain"
)

// BenchmarkObserve measures the engine's cost per call record on the
// call-log writer goroutine with three stream rules (a jwt.expired
// threshold per consumer, a rejection threshold per route, new_ip) over
// 512-record batches from 1 000 consumers and 4 000 addresses. Nothing
// fires after the first pass (cooldowns), as in steady state. ns/op and
// allocs/op are per record.
func BenchmarkObserve(b *testing.B) {
	st := openStoreB(b)
	putRulesB(b, st,
		domain.AlertRule{ID: "alr_1", Name: "jwt", Kind: domain.AlertThreshold, Reason: "jwt.expired", Threshold: 10},
		domain.AlertRule{ID: "alr_2", Name: "route", Kind: domain.AlertThreshold, By: domain.AlertByRoute, Threshold: 1000},
		domain.AlertRule{ID: "alr_3", Name: "ip", Kind: domain.AlertNewIP})
	e, err := New(b.Context(), Options{Store: st, Clock: clock.NewFake(t0), Logger: quiet(), NoBackground: true})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close(b.Context())
	batch := make([]domain.Call, 512*8)
	codes := []string{"", "", "", "jwt.expired", "scope.insufficient"}
	for i := range batch {
		code := codes[i%len(codes)]
		status := 200
		if code != "" {
			status = 401
		}
		batch[i] = domain.Call{Time: t0.Add(time.Duration(i) * time.Millisecond), TenantID: "ten_1",
			ConsumerID: fmt.Sprint("con_", i%1000), CredentialID: fmt.Sprint("key_", i%1000), CredentialType: domain.AuthAPIKey,
			RouteID: fmt.Sprint("rte_", i%4), ClientIP: fmt.Sprint("10.0.", i%16, ".", i%250), Status: status, Code: code}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	defer reportCPU(b, cpu)
	for i, n := 0, 0; i < b.N; i, n = i+512, n+1 {
		off := (n % 8) * 512
		e.Observe(batch[off : off+min(512, b.N-i)])
	}
}
