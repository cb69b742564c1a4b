// Package pgtest gives tests a private PostgreSQL schema and a TCP relay
// they can cut, for the PostgreSQL store and the change feed.
//
// The server is GATEHOUSE_TEST_POSTGRES_URL, by default the machine's
// postgres://postgres@127.0.0.1:5432/test. When it does not answer, tests
// fail if the environment variable CI is set (a missing service must not
// pass silently in CI) and are skipped otherwise.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultURL is the machine's test database.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// BaseURL is the server tests use.
func BaseURL() string {
	if u := os.Getenv("GATEHOUSE_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return DefaultURL
}

// Require returns BaseURL once the server answers; otherwise it fails the
// test under CI and skips it elsewhere.
func Require(t testing.TB) string {
	t.Helper()
	base := BaseURL()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err == nil {
		err = conn.Ping(ctx)
		conn.Close(ctx)
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL at %s does not answer (CI is set, so this fails): %v", redact(base), err)
		}
		t.Skipf("PostgreSQL at %s does not answer (set CI to make this a failure): %v", redact(base), err)
	}
	return base
}

var unsafeChars = regexp.MustCompile(`[^a-z0-9_]+`)

// Schema creates a fresh schema named after the test and returns a URL
// whose search_path selects it. The schema is dropped (CASCADE) when the
// test ends, after the test's own cleanups (register store closes after
// calling Schema).
func Schema(t testing.TB) string {
	t.Helper()
	base := Require(t)
	name := unsafeChars.ReplaceAllString(strings.ToLower(t.Name()), "_")
	if len(name) > 30 {
		name = name[len(name)-30:]
	}
	var rnd [5]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatal(err)
	}
	schema := "gh_" + strings.Trim(name, "_") + "_" + hex.EncodeToString(rnd[:])
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatalf("pgtest: create schema %s: %v", schema, err)
	}
	t.Cleanup(func() { DropSchema(t, schema) })
	return WithSearchPath(t, base, schema)
}

// DropSchema drops schema and everything in it.
func DropSchema(t testing.TB, schema string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, BaseURL())
	if err != nil {
		t.Errorf("pgtest: drop schema %s: connect: %v", schema, err)
		return
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `SET synchronous_commit = off`); err != nil {
		t.Errorf("pgtest: drop schema %s: %v", schema, err)
	}
	if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`); err != nil {
		t.Errorf("pgtest: drop schema %s: %v", schema, err)
	}
}

// WithSearchPath returns raw with its search_path parameter set to schema.
func WithSearchPath(t testing.TB, raw, schema string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("pgtest: parse URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	// Tests do not need durable commits; not waiting for the WAL flush
	// makes the many small DDL transactions of a migration much cheaper.
	if !q.Has("synchronous_commit") {
		q.Set("synchronous_commit", "off")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// WithHost returns raw pointing at host:port instead (through a Relay).
func WithHost(t testing.TB, raw, hostport string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("pgtest: parse URL: %v", err)
	}
	u.Host = hostport
	return u.String()
}

// Target is the host:port of BaseURL (what a Relay forwards to).
func Target(t testing.TB) string {
	t.Helper()
	u, err := url.Parse(BaseURL())
	if err != nil {
		t.Fatalf("pgtest: parse URL: %v", err)
	}
	host := u.Host
	if !strings.Contains(host, ":") {
		host += ":5432"
	}
	return host
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
