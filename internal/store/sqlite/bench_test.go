package sqlite

import (
	"fmt"
	"testing"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/reqid"
	"gatehouse/internal/store"
	"gatehouse/internal/testenv"
)

// benchCalls builds n realistic call records; one in eight is a rejection
// carrying a decision trace.
func benchCalls(n, offset int) []domain.Call {
	calls := make([]domain.Call, n)
	for i := range calls {
		c := domain.Call{RequestID: fmt.Sprintf("01JBENCH%012d", offset+i), Time: t0.Add(time.Duration(offset+i) * time.Microsecond),
			RouteID: "rte_01J0000000000000000000000", ServiceID: "svc_01J0000000000000000000000", TenantID: "ten_01J0000000000000000000000",
			ConsumerID: fmt.Sprintf("con_%04d", i%50), CredentialID: "k7Qx3Zb9LmN2", CredentialType: "api_key",
			Method: "GET", Path: "/v1/orders/12345", Status: 200, ClientIP: "10.1.2.3", UserAgent: "Go-http-client/1.1",
			LatencyMicros: 850, UpstreamMicros: 700, BytesIn: 0, BytesOut: 1536, Engine: "fast"}
		if i%8 == 0 {
			c.Status, c.Code = 401, "key.revoked"
			c.Trace = []domain.TraceStep{
				{Stage: "route", Check: "match", Outcome: domain.OutcomePass, Detail: "rte_01J"},
				{Stage: "extract", Check: "header", Outcome: domain.OutcomePass, Detail: "Authorization"},
				{Stage: "verify", Check: "api_key", Outcome: domain.OutcomeFail, Detail: "revoked 2030-01-01T00:00:00Z: compromised"},
			}
		}
		calls[i] = c
	}
	return calls
}

// floodCalls is benchCalls as a flood of garbage keys writes them: every
// record a rejection without consumer, all with the same trace.
func floodCalls(n, offset int) []domain.Call {
	calls := benchCalls(n, offset)
	for i := range calls {
		c := &calls[i]
		c.ConsumerID, c.CredentialID, c.Status, c.Code, c.UpstreamMicros, c.BytesOut, c.Engine = "", "", 401, "key.malformed", 0, 0, ""
		c.Trace = []domain.TraceStep{
			{Stage: "route", Check: "match", Outcome: domain.OutcomePass, Detail: "route rte_heDj51lubRGcQisp (/) → service bench-upstream"},
			{Stage: "extract", Check: "credential", Outcome: domain.OutcomePass, Detail: "api_key from authorization"},
			{Stage: "verify", Check: "key.format", Outcome: domain.OutcomeFail, Detail: "wrong prefix: Gatehouse keys start with 'gk_' (gk_live_… or gk_test_…), and this value does not: check you sent the key issued for this API, copied from its start"},
		}
	}
	return calls
}

// BenchmarkInsertCalls512 measures the call-log writer's unit of work: one
// InsertCalls of 512 records on a file database with every index in place,
// for ordinary traffic (one rejection in eight) and for a flood of garbage
// keys (issue 2's flood rows: every record a rejection with a trace).
func BenchmarkInsertCalls512(b *testing.B) {
	b.Run("mixed", func(b *testing.B) { benchInsert(b, benchCalls) })
	b.Run("flood", func(b *testing.B) { benchInsert(b, floodCalls) })
}

func benchInsert(b *testing.B, gen func(n, offset int) []domain.Call) {
	const batch = 512
	s := openTemp(b)
	batches := make([][]domain.Call, 64)
	for i := range batches {
		batches[i] = gen(batch, i*batch)
	}
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	for i := 0; b.Loop(); i++ {
		// Re-inserting a batch hits the request-id conflict path; keep ids
		// fresh and times moving forward, as the gateway's are, by
		// rewriting them in place. The ids are the gateway's: ULIDs of
		// the record's time (reqid.New), ordered by millisecond and random
		// within one, as a busy gateway's batches are.
		calls := batches[i%len(batches)]
		for j := range calls {
			calls[j].Time = t0.Add(time.Duration(i*batch+j) * time.Microsecond)
			calls[j].RequestID = reqid.New(calls[j].Time)
		}
		if err := s.InsertCalls(b.Context(), calls); err != nil {
			b.Fatal(err)
		}
	}
	rows := float64(b.N * batch)
	b.ReportMetric(rows/b.Elapsed().Seconds(), "rows/s")
	// The machine is shared: CPU time per row is the steadier figure.
	b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/rows, "cpu-ns/row")
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	d, err := testenv.CPUTime()
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// BenchmarkQueryCalls measures one newest-first page of 100 under a
// consumer filter, on a table of 20 000 calls.
func BenchmarkQueryCalls(b *testing.B) {
	s := openTemp(b)
	for i := range 40 {
		if err := s.InsertCalls(b.Context(), benchCalls(500, i*500)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		got, _, err := s.QueryCalls(b.Context(), store.CallFilter{ConsumerID: "con_0007", Page: store.Page{Limit: 100}})
		if err != nil || len(got) != 100 {
			b.Fatalf("%d calls, %v", len(got), err)
		}
	}
}

// BenchmarkLoad measures the snapshot's full read with 1 000 consumers and
// 2 000 keys.
func BenchmarkLoad(b *testing.B) {
	s := openTemp(b)
	ctx := b.Context()
	if err := s.Update(ctx, func(tx store.Tx) error {
		if err := putTenantTx(ctx, "ten_1", "acme")(tx); err != nil {
			return err
		}
		for i := range 1000 {
			cid := fmt.Sprintf("con_%04d", i)
			if err := tx.PutConsumer(ctx, domain.Consumer{ID: cid, TenantID: "ten_1", Name: cid, Status: domain.StatusActive,
				Scopes: []string{"orders:read"}, CreatedAt: t0, UpdatedAt: t0}); err != nil {
				return err
			}
			for k := range 2 {
				kid := fmt.Sprintf("key_%04d_%d", i, k)
				if err := tx.PutKey(ctx, domain.APIKey{ID: kid, ConsumerID: cid, Environment: domain.EnvLive, Hash: "h" + kid,
					Last4: "abcd", Scopes: []string{"orders:read"}, CreatedAt: t0}); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		d, err := s.Load(ctx)
		if err != nil || len(d.Keys) != 2000 {
			b.Fatalf("%v keys, %v", len(d.Keys), err)
		}
	}
}
