package postgres

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/internal/domain"
	"gatehouse/internal/store"
	"gatehouse/internal/store/postgres/pgtest"
	"gatehouse/internal/testenv"
)

// openBench opens a store in a fresh schema with durable commits (the
// test schemas turn synchronous_commit off; production keeps it on).
func openBench(b *testing.B) *Store {
	url := strings.Replace(pgtest.Schema(b), "synchronous_commit=off", "synchronous_commit=on", 1)
	return openURL(b, url, Options{})
}

// benchCalls builds n realistic call records; one in eight is a rejection
// carrying a decision trace (the same mix as the SQLite benchmark).
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

// cpuTime is the process's user+system CPU time so far (client side only:
// the server's work shows in rows/s).
func cpuTime(b *testing.B) time.Duration {
	d, err := testenv.CPUTime()
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// multiRowInsert is the alternative InsertCalls was measured against: one
// multi-row INSERT … ON CONFLICT DO NOTHING per batch (the SQLite store's
// approach; here the conflict target is the partitioned primary key, so it
// would only skip a repeat of the same id at the same time).
func multiRowInsert(ctx context.Context, s *Store, calls []domain.Call) error {
	var b strings.Builder
	b.WriteString(`INSERT INTO calls (` + strings.Join(callColNames, ", ") + `) VALUES `)
	args := make([]any, 0, len(calls)*len(callColNames))
	for i := range calls {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(")
		for j := range callColNames {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("$" + strconv.Itoa(len(args)+j+1))
		}
		b.WriteString(")")
		row, err := callRow(&calls[i], &store.TraceEncoder{})
		if err != nil {
			return err
		}
		args = append(args, row...)
	}
	b.WriteString(` ON CONFLICT DO NOTHING`)
	_, err := s.pool.Exec(ctx, b.String(), args...)
	return err
}

// BenchmarkInsertCalls512 measures the call-log writer's unit of work, one
// batch of 512 records into a call log with every index in place:
//
//   - copy: InsertCalls (COPY into the staging table, then INSERT …
//     SELECT … ON CONFLICT DO NOTHING);
//   - copy-probe-every-day: the same plus a NOT EXISTS probe for the
//     request id in every partition (request_id alone unique, as on
//     SQLite) — the design rejected for its cost, which grows with the
//     days kept;
//   - multirow-insert: one 512-row INSERT … ON CONFLICT DO NOTHING.
//
// days=30 holds a month of day partitions.
func BenchmarkInsertCalls512(b *testing.B) {
	const batch = 512
	variants := []struct {
		name   string
		insert func(ctx context.Context, s *Store, calls []domain.Call) error
	}{
		{"copy", func(ctx context.Context, s *Store, calls []domain.Call) error { return s.InsertCalls(ctx, calls) }},
		{"copy-probe-every-day", func(ctx context.Context, s *Store, calls []domain.Call) error {
			rows := make([][]any, len(calls))
			for i := range calls {
				row, err := callRow(&calls[i], &store.TraceEncoder{})
				if err != nil {
					return err
				}
				rows[i] = row
			}
			return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, `CREATE TEMPORARY TABLE IF NOT EXISTS `+stagingTable+
					` (LIKE calls INCLUDING DEFAULTS) ON COMMIT DELETE ROWS`); err != nil {
					return err
				}
				if _, err := tx.CopyFrom(ctx, pgx.Identifier{stagingTable}, callColNames, pgx.CopyFromRows(rows)); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, `INSERT INTO calls (`+strings.Join(callColNames, ", ")+`) SELECT `+
					strings.Join(callColNames, ", ")+` FROM `+stagingTable+` i
					WHERE NOT EXISTS (SELECT 1 FROM calls c WHERE c.request_id = i.request_id) ON CONFLICT DO NOTHING`)
				return err
			})
		}},
		{"multirow-insert", multiRowInsert},
	}
	for _, days := range []int{1, 30} {
		for _, v := range variants {
			b.Run(fmt.Sprintf("%s/days=%d", v.name, days), func(b *testing.B) {
				insertCallsBench(b, v.insert, days)
			})
		}
	}
}

// insertCallsBench runs one variant on a call log holding days day
// partitions (the probe visits each), warmed with 10 240 calls per day.
func insertCallsBench(b *testing.B, insert func(ctx context.Context, s *Store, calls []domain.Call) error, days int) {
	const batch = 512
	s := openBench(b)
	for d := range days {
		for i := range 20 {
			calls := benchCalls(batch, (d*20+i)*batch)
			for j := range calls {
				calls[j].Time = calls[j].Time.Add(-time.Duration(d) * 24 * time.Hour)
			}
			if err := s.InsertCalls(b.Context(), calls); err != nil {
				b.Fatal(err)
			}
		}
	}
	batches := make([][]domain.Call, 16)
	for i := range batches {
		batches[i] = benchCalls(batch, (days*20+i)*batch)
	}
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	for i := 0; b.Loop(); i++ {
		calls := batches[i%len(batches)]
		prefix := "01JB" + strconv.Itoa(i) + "_"
		for j := range calls {
			calls[j].RequestID = prefix + strconv.Itoa(j)
		}
		if err := insert(b.Context(), s, calls); err != nil {
			b.Fatal(err)
		}
	}
	rows := float64(b.N * batch)
	b.ReportMetric(rows/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/rows, "client-cpu-ns/row")
}

// seedKeys writes one tenant, consumers and n keys with COPY (the
// benchmark's setup, not the code under test) and bumps the version.
func seedKeys(b *testing.B, s *Store, n int) {
	ctx := b.Context()
	consumers := max(1, n/100)
	if err := s.Update(ctx, putTenantTx(ctx, "ten_1", "acme")); err != nil {
		b.Fatal(err)
	}
	crows := make([][]any, consumers)
	for i := range crows {
		id := fmt.Sprintf("con_%06d", i)
		crows[i] = []any{id, "ten_1", id, domain.StatusActive, `["orders:read"]`, `null`, `{"team":"web"}`, nil, nil, tm(t0), tm(t0)}
	}
	if _, err := s.pool.CopyFrom(ctx, pgx.Identifier{"consumers"}, splitCols(consumerCols), pgx.CopyFromRows(crows)); err != nil {
		b.Fatal(err)
	}
	krows := make([][]any, n)
	for i := range krows {
		id := fmt.Sprintf("key_%08d", i)
		krows[i] = []any{id, fmt.Sprintf("con_%06d", i%consumers), "", domain.EnvLive, "sha256:" + id, "ab12", false,
			`["orders:read","orders:write"]`, `null`, tm(t0.Add(90 * 24 * time.Hour)), nil, "", "", nil, "", tm(t0), nil}
	}
	if _, err := s.pool.CopyFrom(ctx, pgx.Identifier{"api_keys"}, splitCols(keyCols), pgx.CopyFromRows(krows)); err != nil {
		b.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `ANALYZE`); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkLoad measures the snapshot's full read (node start and every
// resync) with 100 000 keys; GATEHOUSE_BENCH_KEYS=1000000 measures the
// issue's million-key target.
func BenchmarkLoad(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("GATEHOUSE_BENCH_KEYS")); err == nil && v > 0 {
		n = v
	}
	b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
		s := openBench(b)
		seedKeys(b, s, n)
		b.ReportAllocs()
		for b.Loop() {
			d, err := s.Load(b.Context())
			if err != nil || len(d.Keys) != n {
				b.Fatalf("%d keys, %v", len(d.Keys), err)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "keys/s")
	})
}

// BenchmarkUpdateCreateKey measures admin key creation through Update (the
// version bump, the parent check, the insert, an audit entry and the
// NOTIFY, committed): the cluster's admin write throughput.
func BenchmarkUpdateCreateKey(b *testing.B) {
	s := openBench(b)
	ctx := b.Context()
	if err := s.Update(ctx, func(tx store.Tx) error {
		if err := putTenantTx(ctx, "ten_1", "acme")(tx); err != nil {
			return err
		}
		return tx.PutConsumer(ctx, domain.Consumer{ID: "con_1", TenantID: "ten_1", Name: "shop", Status: domain.StatusActive,
			CreatedAt: t0, UpdatedAt: t0})
	}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		id := "key_" + strconv.Itoa(i)
		if err := s.Update(ctx, func(tx store.Tx) error {
			if err := tx.PutKey(ctx, domain.APIKey{ID: id, ConsumerID: "con_1", Environment: domain.EnvLive, Hash: "h" + id,
				Last4: "abcd", Scopes: []string{"orders:read"}, CreatedAt: t0}); err != nil {
				return err
			}
			return tx.Audit(ctx, domain.AuditEntry{At: t0, Actor: "adm_1", Action: "key.create", Resource: "key", ResourceID: id})
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "keys/s")
}
