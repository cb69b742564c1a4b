package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"gatehouse/internal/admin"
	"gatehouse/internal/clock"
	"gatehouse/internal/store/sqlite"
)

// t0 is the fake time of the admin API and of the CLI in command tests.
var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// testEnv is the real admin API (internal/admin) on a real SQLite store in
// a temp file, served on loopback by httptest; the CLI under test talks to
// it over HTTP exactly as in production.
type testEnv struct {
	t     *testing.T
	store *sqlite.Store
	clock *clock.Fake
	url   string
	token string // the bootstrap admin's token
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "gatehouse.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	token, err := admin.Bootstrap(ctx, st, "")
	if err != nil || token == "" {
		t.Fatalf("bootstrap admin: %q, %v", token, err)
	}
	fc := clock.NewFake(t0)
	api := admin.New(admin.Config{
		Store: st, Clock: fc, Version: "test-1",
		Status: func(context.Context) any {
			return map[string]any{"calllog": map[string]int{"queued": 0, "written": 7, "dropped": 2}}
		},
	})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return &testEnv{t: t, store: st, clock: fc, url: srv.URL, token: token}
}

// result is one CLI invocation's outcome.
type result struct {
	out, err string
	e        error
}

// invocation is how to run the CLI once beyond its arguments.
type invocation struct {
	// vars override the environment (URL and token default to the test
	// server's); a present key with "" unsets the variable.
	vars  map[string]string
	stdin string
}

// run executes `gatehouse <args>` against the test server.
func (e *testEnv) run(args ...string) result { return e.runWith(invocation{}, args...) }

func (e *testEnv) runWith(inv invocation, args ...string) result {
	e.t.Helper()
	vars := map[string]string{EnvAdminURL: e.url, EnvAdminToken: e.token}
	for k, v := range inv.vars {
		vars[k] = v
	}
	var out, errOut bytes.Buffer
	cio := IO{Out: &out, Err: &errOut, Getenv: func(k string) string { return vars[k] },
		In: strings.NewReader(inv.stdin), Now: e.clock.Now}
	root := &cobra.Command{Use: "gatehouse", SilenceErrors: false}
	root.AddCommand(Commands(cio)...)
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errOut)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := root.ExecuteContext(ctx)
	r := result{out: out.String(), err: errOut.String(), e: err}
	// Invariants of every invocation: the admin token is never echoed,
	// and a failure is reported exactly once, by the command itself.
	for _, s := range []string{e.token, vars[EnvAdminToken]} {
		if len(s) >= 8 && (strings.Contains(r.out, s) || strings.Contains(r.err, s)) {
			e.t.Errorf("gatehouse %s: output contains the admin token\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.out, r.err)
		}
	}
	if err != nil {
		if !errors.Is(err, ErrReported) {
			e.t.Errorf("gatehouse %s: error %v does not wrap ErrReported", strings.Join(args, " "), err)
		}
		if n := strings.Count(r.err, "error: "); n != 1 {
			e.t.Errorf("gatehouse %s: error reported %d times on stderr:\n%s", strings.Join(args, " "), n, r.err)
		}
	}
	return r
}

// mustJSON runs a command with -o json, requires success and decodes stdout.
func (e *testEnv) mustJSON(v any, args ...string) {
	e.t.Helper()
	r := e.run(append(args, "-o", "json")...)
	if r.e != nil {
		e.t.Fatalf("gatehouse %s: %v\n%s", strings.Join(args, " "), r.e, r.err)
	}
	if err := json.Unmarshal([]byte(r.out), v); err != nil {
		e.t.Fatalf("gatehouse %s -o json: %v\n%s", strings.Join(args, " "), err, r.out)
	}
}

// cliCase is one invocation and what it must print.
type cliCase struct {
	desc    string
	args    []string
	inv     invocation
	fail    bool     // non-zero exit expected
	out     []string // fragments stdout must contain
	errOut  []string // fragments stderr must contain
	notOut  []string // fragments neither stdout nor stderr may contain
	outFunc func(t *testing.T, out string)
}

// check runs cases in order (later cases may depend on earlier ones).
func (e *testEnv) check(t *testing.T, cases []cliCase) {
	t.Helper()
	for _, tc := range cases {
		r := e.runWith(tc.inv, tc.args...)
		name := "gatehouse " + strings.Join(tc.args, " ")
		switch {
		case tc.fail && r.e == nil:
			t.Errorf("%s: %s succeeded, want failure\nstdout:\n%s", tc.desc, name, r.out)
		case !tc.fail && r.e != nil:
			t.Errorf("%s: %s failed: %v\nstderr:\n%s", tc.desc, name, r.e, r.err)
		}
		for _, f := range tc.out {
			if !strings.Contains(r.out, f) {
				t.Errorf("%s: %s: stdout lacks %q:\n%s", tc.desc, name, f, r.out)
			}
		}
		for _, f := range tc.errOut {
			if !strings.Contains(r.err, f) {
				t.Errorf("%s: %s: stderr lacks %q:\n%s", tc.desc, name, f, r.err)
			}
		}
		for _, f := range tc.notOut {
			if strings.Contains(r.out, f) || strings.Contains(r.err, f) {
				t.Errorf("%s: %s: output contains %q:\nstdout:\n%s\nstderr:\n%s", tc.desc, name, f, r.out, r.err)
			}
		}
		if !tc.fail && hasJSONFlag(tc.args) && r.out != "" && !json.Valid([]byte(r.out)) {
			t.Errorf("%s: %s: -o json printed invalid JSON:\n%s", tc.desc, name, r.out)
		}
		if tc.outFunc != nil {
			tc.outFunc(t, r.out)
		}
	}
}

func hasJSONFlag(args []string) bool {
	for i, a := range args {
		if a == "-ojson" || a == "--output=json" || ((a == "-o" || a == "--output") && i+1 < len(args) && args[i+1] == "json") {
			return true
		}
	}
	return false
}

// closedURL is the URL of a loopback port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}
