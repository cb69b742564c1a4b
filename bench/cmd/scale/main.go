// Command scale is the memory/scale bench of issue 6: one million API keys
// in PostgreSQL, a real `gatehouse serve` process started against them, and
// what that costs.
//
// It creates a fresh database (-db, dropped at the end unless -keep), then:
//
//  1. starts a node on the empty database and creates the tenant, service,
//     route and one consumer through the admin API, then -admin-keys keys
//     through POST /admin/v1/keys: the admin key-creation throughput of a
//     small store;
//  2. stops it and writes the remaining consumers (store.Update, PutConsumer)
//     and keys (postgres.Store.CopyKeys, which encodes rows exactly as
//     PutKey does) up to -keys; keys are minted by internal/keys (Generate,
//     Hash, Last4) with a realistic mix: explicit scopes, expiries, some
//     expired, revoked, rotated (in grace), test-environment and
//     IP-restricted keys;
//  3. starts a node against the full database and measures the time from
//     exec to the admin /readyz answering 200, its resident memory after
//     -settle (VmRSS) and its peak (VmHWM), and proves a sample of keys of
//     every kind answers as it must through the proxy (200, or the exact
//     reason code);
//  4. creates -scale-admin-keys keys through the admin API against that node
//     (admin throughput at a million keys: every change reloads the
//     snapshot before the answer), and, unless -revocations is 0, starts a
//     second node and revokes keys through the first, timing until the
//     second refuses them (the cluster's 100 ms propagation bound).
//
// It prints a table and a verdict against the targets (start ≤ 5 s, RSS ≤
// 300 MB) and exits 1 when a target or a check fails. bench/README.md
// ("Memory and scale") describes it.
package main

import (
	"bufio"
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/internal/domain"
	"gatehouse/internal/keys"
	"gatehouse/internal/store"
	"gatehouse/internal/store/postgres"
)

type config struct {
	pg, db                 string
	keys, consumers        int
	adminKeys, adminConc   int
	scaleAdminKeys         int
	revocations            int
	bin                    string
	keep                   bool
	settle                 time.Duration
	startTarget            time.Duration
	rssTargetMB            float64
	propagationTarget      time.Duration
	batch                  int
	readyTimeout, deadline time.Duration
}

func main() {
	var c config
	flag.StringVar(&c.pg, "pg", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable",
		"PostgreSQL URL of an existing database to connect to for CREATE/DROP DATABASE")
	flag.StringVar(&c.db, "db", "gatehouse_scale", "database the bench creates (dropped first if it exists) and drops at the end")
	flag.IntVar(&c.keys, "keys", 1_000_000, "API keys in the store in total")
	flag.IntVar(&c.consumers, "consumers", 10_000, "consumers the keys belong to")
	flag.IntVar(&c.adminKeys, "admin-keys", 2000, "keys created through POST /admin/v1/keys on the empty store")
	flag.IntVar(&c.adminConc, "admin-conc", 1, "concurrent admin clients for -admin-keys")
	flag.IntVar(&c.scaleAdminKeys, "scale-admin-keys", 50, "keys created through the admin API against the full store")
	flag.IntVar(&c.revocations, "revocations", 50, "revocations through node 1 timed until node 2 refuses the key (0: no second node)")
	flag.StringVar(&c.bin, "bin", "", "gatehouse binary (empty: go build ./cmd/gatehouse into a temporary directory)")
	flag.BoolVar(&c.keep, "keep", false, "keep the database at the end")
	flag.DurationVar(&c.settle, "settle", 5*time.Second, "wait after /readyz before reading VmRSS")
	flag.DurationVar(&c.startTarget, "start-target", 5*time.Second, "target: exec → /readyz 200")
	flag.Float64Var(&c.rssTargetMB, "rss-target", 300, "target: VmRSS after start, MB")
	flag.DurationVar(&c.propagationTarget, "propagation-target", 100*time.Millisecond, "target: p99 of a revocation reaching the second node")
	flag.IntVar(&c.batch, "batch", 50_000, "keys per CopyKeys transaction")
	flag.DurationVar(&c.readyTimeout, "ready-timeout", 3*time.Minute, "how long a node may take to become ready")
	flag.DurationVar(&c.deadline, "timeout", 60*time.Minute, "overall time limit")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), c.deadline)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	err := run(ctx, c)
	stop()
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[scale %s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// report collects the table's rows and whether every target and check held.
type report struct {
	rows   [][4]string
	failed []string
}

func (r *report) add(what, value, target, verdict string) {
	r.rows = append(r.rows, [4]string{what, value, target, verdict})
}

// judge adds a row with a target and records a miss.
func (r *report) judge(what, value, target string, ok bool) {
	v := "PASS"
	if !ok {
		v = "FAIL"
		r.failed = append(r.failed, what)
	}
	r.add(what, value, target, v)
}

func (r *report) print(w io.Writer) {
	fmt.Fprintln(w, "| measurement | value | target | verdict |")
	fmt.Fprintln(w, "|---|---|---|---|")
	for _, row := range r.rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", row[0], row[1], row[2], row[3])
	}
}

func run(ctx context.Context, c config) (err error) {
	if c.keys < c.adminKeys+1 || c.consumers < 1 || c.adminConc < 1 || c.batch < 1 {
		return errors.New("need -keys > -admin-keys, -consumers ≥ 1, -admin-conc ≥ 1, -batch ≥ 1")
	}
	work, err := os.MkdirTemp("", "gatehouse-scale-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	bin := c.bin
	if bin == "" {
		if bin, err = build(ctx, work); err != nil {
			return err
		}
	}
	dbURL, err := createDatabase(ctx, c.pg, c.db)
	if err != nil {
		return err
	}
	defer func() {
		if c.keep {
			logf("kept database %s", c.db)
			return
		}
		if derr := dropDatabase(context.WithoutCancel(ctx), c.pg, c.db); derr != nil {
			err = errors.Join(err, derr)
		}
	}()
	up, err := startUpstream()
	if err != nil {
		return err
	}
	defer up.Close()

	var rep report
	loadStart := loadAvg()
	env := nodeEnv(dbURL)
	b := &bench{c: c, bin: bin, work: work, env: env, upstream: "http://" + up.Addr().String(), rep: &rep,
		hc: &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	defer b.stopAll()
	if err := b.run(ctx, dbURL); err != nil {
		return err
	}
	rep.add("machine load average (1 min) at the start / at the end", loadStart+" / "+loadAvg(), "—", "")
	fmt.Println()
	rep.print(os.Stdout)
	fmt.Println()
	if len(rep.failed) > 0 {
		return fmt.Errorf("missed: %s", strings.Join(rep.failed, "; "))
	}
	fmt.Println("verdict: every target met and every check held")
	return nil
}

type bench struct {
	c        config
	bin      string
	work     string
	env      []string
	upstream string
	rep      *report
	hc       *http.Client
	nodes    []*node

	tenant, service, consumer string
	consumerScopes            []string
	samples                   []sample
	spare                     []generated // active keys for the revocation rounds
}

// sample is a key whose answer through the proxy is known in advance.
type sample struct {
	kind, key  string
	wantStatus int
	wantCode   string // "" for 200
}

type generated struct{ id, full string }

func (b *bench) run(ctx context.Context, dbURL string) error {
	// 1. The empty store: the admin API's throughput.
	n1, err := b.start(ctx, "empty")
	if err != nil {
		return err
	}
	emptyRSS, _, err := n1.settledRSS(ctx, b.c.settle)
	if err != nil {
		return err
	}
	if err := b.provision(ctx, n1); err != nil {
		return err
	}
	adminKeys, rate, err := b.createKeysHTTP(ctx, n1, b.c.adminKeys, b.c.adminConc)
	if err != nil {
		return err
	}
	b.rep.add(fmt.Sprintf("admin key creation, empty store (POST /admin/v1/keys ×%d, %d client(s))", b.c.adminKeys, b.c.adminConc),
		rateText(rate), "reported", "")
	b.samples = append(b.samples, sample{"created through the admin API", adminKeys[0].full, 200, ""})
	if err := n1.stop(); err != nil {
		return err
	}

	// 2. Bulk load to -keys.
	bulk := b.c.keys - b.c.adminKeys
	t0 := time.Now()
	if err := b.bulkLoad(ctx, dbURL, bulk); err != nil {
		return err
	}
	el := time.Since(t0)
	b.rep.add("bulk load (consumers by PutConsumer, keys by postgres.CopyKeys)",
		fmt.Sprintf("%d keys in %.1f s (%.0f keys/s)", bulk, el.Seconds(), float64(bulk)/el.Seconds()), "—", "")

	// 3. A node against the full store.
	n2, err := b.start(ctx, "full")
	if err != nil {
		return err
	}
	b.rep.judge(fmt.Sprintf("node start with %d keys, exec → /readyz 200", b.c.keys), fmt.Sprintf("%.2f s", n2.ready.Seconds()),
		fmt.Sprintf("≤ %.0f s", b.c.startTarget.Seconds()), n2.ready <= b.c.startTarget)
	rss, hwm, err := n2.settledRSS(ctx, b.c.settle)
	if err != nil {
		return err
	}
	b.rep.judge(fmt.Sprintf("RSS after start (VmRSS, %s after ready)", b.c.settle), mb(rss),
		fmt.Sprintf("≤ %.0f MB", b.c.rssTargetMB), float64(rss)/1e6 <= b.c.rssTargetMB)
	b.rep.add("peak RSS during start (VmHWM)", mb(hwm), "—", "")
	b.rep.add("RSS per key ((full − empty node) / keys)", fmt.Sprintf("%.0f B", float64(rss-emptyRSS)/float64(b.c.keys)), "—", "")
	ok, detail := b.checkSamples(ctx, n2)
	b.rep.judge("sample keys through the proxy", detail, "all as expected", ok)

	// 4. Admin changes at scale.
	_, rate, err = b.createKeysHTTP(ctx, n2, b.c.scaleAdminKeys, 1)
	if err != nil {
		return err
	}
	b.rep.add(fmt.Sprintf("admin key creation with %d keys (×%d, 1 client)", b.c.keys, b.c.scaleAdminKeys),
		rateText(rate), "reported", "")
	if b.c.revocations > 0 {
		if err := b.revocations(ctx, n2); err != nil {
			return err
		}
	}
	for _, n := range b.nodes {
		if n.cmd.ProcessState != nil {
			continue
		}
		st, err := procStatus(n.cmd.Process.Pid)
		if err != nil {
			return err
		}
		b.rep.add(fmt.Sprintf("RSS of node %q at the end (VmRSS / VmHWM)", n.name), mb(st["VmRSS"])+" / "+mb(st["VmHWM"]), "—", "")
	}
	return nil
}

// rateText prints a rate with three significant digits.
func rateText(perSecond float64) string {
	return strconv.FormatFloat(perSecond, 'g', 3, 64) + " keys/s"
}

// loadAvg is the 1-minute load average: the machine is shared, and the
// timings mean little without it.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

func mb(bytes int64) string { return fmt.Sprintf("%.0f MB", float64(bytes)/1e6) }

// build compiles the gatehouse binary from the work tree.
func build(ctx context.Context, dir string) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "gatehouse")
	logf("building gatehouse from %s", root)
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/gatehouse")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/gatehouse: %w", err)
	}
	return out, nil
}

// repoRoot finds the module root (the directory holding go.mod) above the
// working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: run from the repository or pass -bin")
		}
		dir = parent
	}
}

// createDatabase (re)creates db on the server of base and returns its URL.
func createDatabase(ctx context.Context, base, db string) (string, error) {
	if !validIdent(db) {
		return "", fmt.Errorf("-db %q: use lower-case letters, digits and _", db)
	}
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", fmt.Errorf("connect %s: %w", redact(base), err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+db+` WITH (FORCE)`); err != nil {
		return "", fmt.Errorf("drop old database %s: %w", db, err)
	}
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+db); err != nil {
		return "", fmt.Errorf("create database %s: %w", db, err)
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	u.Path = "/" + db
	logf("created database %s", db)
	return u.String(), nil
}

func dropDatabase(ctx context.Context, base, db string) error {
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return fmt.Errorf("connect %s: %w", redact(base), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+db+` WITH (FORCE)`); err != nil {
		return fmt.Errorf("drop database %s: %w", db, err)
	}
	logf("dropped database %s", db)
	return nil
}

func validIdent(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Redacted()
}

// startUpstream serves 200 to everything: the service behind the route.
func startUpstream() (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return ln, nil
}

// nodeEnv is the environment of every node: the database, loopback
// listeners on free ports, a fixed admin token and master key.
func nodeEnv(dbURL string) []string {
	var master [32]byte
	_, _ = crand.Read(master[:])
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GATEHOUSE_") })
	return append(env,
		"GATEHOUSE_DATABASE_URL="+dbURL,
		"GATEHOUSE_PROXY_ADDR=127.0.0.1:0",
		"GATEHOUSE_ADMIN_ADDR=127.0.0.1:0",
		"GATEHOUSE_LOG_LEVEL=warn",
		"GATEHOUSE_ADMIN_TOKEN="+adminToken,
		"GATEHOUSE_MASTER_KEY="+base64.StdEncoding.EncodeToString(master[:]),
	)
}

const adminToken = "gh_admin_scale_bench_token_0123456789abcdef"

// node is one gatehouse serve process.
type node struct {
	name         string
	cmd          *exec.Cmd
	proxy, admin string
	ready        time.Duration // exec → /readyz 200
	stderr       *bytes.Buffer
	done         chan struct{}
}

// start execs a node and waits until its admin /readyz answers 200.
func (b *bench) start(ctx context.Context, name string) (*node, error) {
	dir := filepath.Join(b.work, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	readyFile := filepath.Join(dir, "ready.json")
	n := &node{name: name, stderr: &bytes.Buffer{}, done: make(chan struct{})}
	n.cmd = exec.Command(b.bin, "serve", "--ready-file", readyFile)
	n.cmd.Env = b.env
	n.cmd.Stdout = io.Discard
	n.cmd.Stderr = n.stderr
	t0 := time.Now()
	if err := n.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start node %s: %w", name, err)
	}
	b.nodes = append(b.nodes, n)
	go func() { _ = n.cmd.Wait(); close(n.done) }()
	deadline := time.After(b.c.readyTimeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-n.done:
			return nil, fmt.Errorf("node %s exited before it was ready: %s", name, n.stderr)
		case <-deadline:
			return nil, fmt.Errorf("node %s not ready after %s: %s", name, b.c.readyTimeout, n.stderr)
		case <-tick.C:
		}
		if n.admin == "" {
			raw, err := os.ReadFile(readyFile)
			if err != nil {
				continue
			}
			var addrs map[string]string
			if json.Unmarshal(raw, &addrs) != nil {
				continue
			}
			n.proxy, n.admin = "http://"+addrs["proxy"], "http://"+addrs["admin"]
		}
		if code, _, err := b.get(ctx, n.admin+"/readyz", ""); err == nil && code == 200 {
			n.ready = time.Since(t0)
			logf("node %s ready in %.2f s (pid %d)", name, n.ready.Seconds(), n.cmd.Process.Pid)
			return n, nil
		}
	}
}

// settledRSS waits d, then reads VmRSS and VmHWM.
func (n *node) settledRSS(ctx context.Context, d time.Duration) (rss, hwm int64, err error) {
	select {
	case <-ctx.Done():
		return 0, 0, ctx.Err()
	case <-n.done:
		return 0, 0, fmt.Errorf("node %s exited: %s", n.name, n.stderr)
	case <-time.After(d):
	}
	st, err := procStatus(n.cmd.Process.Pid)
	if err != nil {
		return 0, 0, err
	}
	logf("node %s: VmRSS %s, VmHWM %s", n.name, mb(st["VmRSS"]), mb(st["VmHWM"]))
	return st["VmRSS"], st["VmHWM"], nil
}

// procStatus reads the Vm* lines of /proc/<pid>/status, in bytes.
func procStatus(pid int) (map[string]int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || !strings.HasPrefix(k, "Vm") {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 2 && f[1] == "kB" {
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err == nil {
				out[k] = n * 1024
			}
		}
	}
	return out, sc.Err()
}

func (n *node) stop() error {
	if n.cmd.ProcessState != nil {
		return nil
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
		return nil
	case <-time.After(30 * time.Second):
		_ = n.cmd.Process.Kill()
		<-n.done
		return fmt.Errorf("node %s did not stop on SIGTERM within 30 s; killed", n.name)
	}
}

func (b *bench) stopAll() {
	for _, n := range b.nodes {
		if err := n.stop(); err != nil {
			logf("%v", err)
		}
	}
}

// provision creates the tenant, service, route "/" (api_key) and the
// consumer of the admin-created keys through the admin API.
func (b *bench) provision(ctx context.Context, n *node) error {
	var out struct {
		ID string `json:"id"`
	}
	if err := b.post(ctx, n, "/admin/v1/tenants", map[string]any{"slug": "scale", "name": "Scale bench"}, &out); err != nil {
		return err
	}
	b.tenant = out.ID
	if err := b.post(ctx, n, "/admin/v1/services", map[string]any{"tenant": b.tenant, "name": "scale-upstream",
		"targets": []string{b.upstream}}, &out); err != nil {
		return err
	}
	b.service = out.ID
	if err := b.post(ctx, n, "/admin/v1/routes", map[string]any{"service": b.service, "paths": []string{"/"},
		"auth": []string{"api_key"}}, nil); err != nil {
		return err
	}
	b.consumerScopes = []string{"orders:read", "orders:write"}
	if err := b.post(ctx, n, "/admin/v1/consumers", map[string]any{"tenant": b.tenant, "name": "scale-admin-keys",
		"scopes": b.consumerScopes}, &out); err != nil {
		return err
	}
	b.consumer = out.ID
	return nil
}

// createKeysHTTP creates n keys through POST /admin/v1/keys with conc
// clients and returns them with the rate.
func (b *bench) createKeysHTTP(ctx context.Context, nd *node, n, conc int) ([]generated, float64, error) {
	if n == 0 {
		return nil, 0, nil
	}
	logf("creating %d keys through the admin API of node %s (%d client(s))", n, nd.name, conc)
	out := make([]generated, n)
	errs := make(chan error, conc)
	next := make(chan int)
	t0 := time.Now()
	for range conc {
		go func() {
			for i := range next {
				var k struct{ ID, Key string }
				if err := b.post(ctx, nd, "/admin/v1/keys", map[string]any{"consumer": b.consumer, "name": "admin-" + strconv.Itoa(i)}, &k); err != nil {
					errs <- err
					for range next { // drain
					}
					return
				}
				out[i] = generated{k.ID, k.Key}
			}
			errs <- nil
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	var err error
	for range conc {
		err = errors.Join(err, <-errs)
	}
	el := time.Since(t0)
	if err != nil {
		return nil, 0, err
	}
	rate := float64(n) / el.Seconds()
	logf("%d keys in %.2f s: %.1f keys/s", n, el.Seconds(), rate)
	return out, rate, nil
}

// bulkLoad writes the remaining consumers and n keys straight into the
// store, through the store's own code.
func (b *bench) bulkLoad(ctx context.Context, dbURL string, n int) error {
	st, err := postgres.Open(ctx, dbURL)
	if err != nil {
		return err
	}
	defer st.Close()
	rng := rand.New(rand.NewPCG(6, 1_000_000))
	now := time.Now().UTC().Truncate(time.Microsecond)
	scopeSets := [][]string{{"orders:read"}, {"orders:read", "orders:write"}, {}, {"billing:read", "orders:read"}}
	type owner struct {
		id     string
		scopes []string
	}
	owners := []owner{{b.consumer, b.consumerScopes}}
	logf("writing %d consumers", b.c.consumers-1)
	for len(owners) < b.c.consumers {
		chunk := min(5000, b.c.consumers-len(owners))
		var batch []domain.Consumer
		for range chunk {
			id, err := keys.NewID()
			if err != nil {
				return err
			}
			i := len(owners) + len(batch)
			c := domain.Consumer{ID: "con_" + id + "sc00", TenantID: b.tenant, Name: fmt.Sprintf("app-%06d", i),
				Status: domain.StatusActive, Scopes: scopeSets[i%len(scopeSets)], Labels: map[string]string{"team": "t" + strconv.Itoa(i%20)},
				CreatedAt: now, UpdatedAt: now}
			batch = append(batch, c)
		}
		if err := st.Update(ctx, func(tx store.Tx) error {
			for _, c := range batch {
				if err := tx.PutConsumer(ctx, c); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("write consumers: %w", err)
		}
		for _, c := range batch {
			owners = append(owners, owner{c.ID, c.Scopes})
		}
	}
	logf("writing %d keys with CopyKeys in transactions of %d", n, b.c.batch)
	want := map[string]int{"active": 3, "expiring": 3, "rotated, in grace": 2, "revoked": 2, "expired": 2,
		"test environment": 2, "IP-restricted": 2}
	kept := map[string]int{}
	spares := b.c.revocations
	batch := make([]domain.APIKey, 0, b.c.batch)
	var pendingSuccessor *domain.APIKey
	written := 0
	t0 := time.Now()
	for i := 0; i < n; i++ {
		o := owners[i%len(owners)]
		env := keys.EnvLive
		kind := "active"
		r := rng.IntN(1000)
		switch {
		case r < 50:
			kind = "revoked"
		case r < 70:
			kind = "rotated, in grace"
		case r < 80:
			kind = "expired"
		case r < 130:
			kind, env = "test environment", keys.EnvTest
		case r < 140:
			kind = "IP-restricted"
		case r < 440:
			kind = "expiring"
		}
		if pendingSuccessor != nil {
			kind, env = "successor", keys.EnvLive
		}
		g, err := keys.Generate(env)
		if err != nil {
			return err
		}
		created := now.Add(-time.Duration(rng.Int64N(int64(700 * 24 * time.Hour)))).Truncate(time.Microsecond)
		k := domain.APIKey{ID: g.ID, ConsumerID: o.id, Environment: env, Hash: keys.Hash(g.Full), Last4: keys.Last4(g.Full),
			Scopes: slices.Clone(o.scopes), CreatedAt: created}
		if rng.IntN(5) == 0 {
			k.Name = "key-" + strconv.Itoa(i)
		}
		at := func(d time.Duration) *time.Time { t := now.Add(d).Truncate(time.Microsecond); return &t }
		switch kind {
		case "revoked":
			k.RevokedAt = at(-time.Duration(rng.Int64N(int64(90 * 24 * time.Hour))))
			k.RevokedReason = []string{"compromised", "no longer used", "employee left"}[rng.IntN(3)]
		case "rotated, in grace":
			pendingSuccessor = &k // the next key is its successor
			k.GraceUntil = at(time.Duration(1+rng.Int64N(72)) * time.Hour)
		case "successor":
			// filled below, once both ids are known
		case "expired":
			k.ExpiresAt = at(-time.Duration(1+rng.Int64N(int64(30*24))) * time.Hour)
		case "IP-restricted":
			k.IPAllow = []string{"10.0.0.0/8", "192.168.0.0/16"}
		case "expiring":
			k.ExpiresAt = at(time.Duration(1+rng.Int64N(365*24)) * time.Hour)
		}
		batch = append(batch, k)
		if kind == "successor" {
			if len(batch) < 2 || batch[len(batch)-2].ID != pendingSuccessor.ID {
				return errors.New("bench: a rotated key and its successor straddle a batch")
			}
			prev := &batch[len(batch)-2]
			prev.Successor, batch[len(batch)-1].Predecessor = k.ID, prev.ID
			pendingSuccessor = nil
		}
		if kind == "active" && spares > 0 {
			b.spare = append(b.spare, generated{g.ID, g.Full})
			spares--
		} else if kept[kind] < want[kind] {
			kept[kind]++
			s := sample{kind: kind, key: g.Full, wantStatus: 200}
			switch kind {
			case "revoked":
				s.wantStatus, s.wantCode = 401, "key.revoked"
			case "expired":
				s.wantStatus, s.wantCode = 401, "key.expired"
			case "test environment":
				s.wantStatus, s.wantCode = 401, "key.wrong_environment"
			case "IP-restricted":
				s.wantStatus, s.wantCode = 403, "ip.not_allowed"
			}
			b.samples = append(b.samples, s)
		}
		// Flush full batches, never between a rotated key and its successor.
		if len(batch) >= b.c.batch && pendingSuccessor == nil || i == n-1 {
			if pendingSuccessor != nil { // the last key was rotated: drop the rotation
				last := &batch[len(batch)-1]
				last.GraceUntil, pendingSuccessor = nil, nil
			}
			if err := st.CopyKeys(ctx, batch); err != nil {
				return err
			}
			written += len(batch)
			batch = batch[:0]
			if written%(5*b.c.batch) == 0 || written == n {
				logf("  %d keys (%.0f keys/s)", written, float64(written)/time.Since(t0).Seconds())
			}
		}
	}
	// Keys never stored: a well-formed unknown key, and a stored id with
	// the wrong secret.
	unknown, err := keys.Generate(keys.EnvLive)
	if err != nil {
		return err
	}
	b.samples = append(b.samples, sample{"well-formed, never issued", unknown.Full, 401, "key.unknown"})
	if len(b.spare) > 0 {
		forged, err := sameIDOtherSecret(b.spare[len(b.spare)-1].full)
		if err != nil {
			return err
		}
		b.samples = append(b.samples, sample{"stored id, wrong secret", forged, 401, "key.unknown"})
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, `ANALYZE`)
	return err
}

// sameIDOtherSecret mints a well-formed key (valid checksum) with full's
// id and another secret: what a forger who knows only the public id sends.
// The checksum follows the format (internal/keys): CRC-32 (IEEE) of
// everything before it, six base62 digits, most significant first; the
// gateway's parser must accept it, so the answer comes from the lookup.
func sameIDOtherSecret(full string) (string, error) {
	p, perr := keys.Parse(full, "")
	if perr != nil {
		return "", fmt.Errorf("parse own key: %s", perr.Detail)
	}
	g, err := keys.Generate(p.Env)
	if err != nil {
		return "", err
	}
	const checkLen = 6
	body := g.Full[:len(g.Full)-checkLen]
	body = strings.Replace(body, "_"+g.ID+"_", "_"+p.ID+"_", 1)
	crc := crc32.ChecksumIEEE([]byte(body))
	var check [checkLen]byte
	for i := checkLen - 1; i >= 0; i-- {
		check[i] = keys.Alphabet[crc%62]
		crc /= 62
	}
	forged := body + string(check[:])
	if _, perr := keys.Parse(forged, ""); perr != nil {
		return "", fmt.Errorf("forged key does not parse: %s", perr.Detail)
	}
	return forged, nil
}

// checkSamples sends each sample key through the proxy and compares the
// answer with the expected one.
func (b *bench) checkSamples(ctx context.Context, n *node) (bool, string) {
	good := 0
	var bad []string
	for _, s := range b.samples {
		code, reason, err := b.get(ctx, n.proxy+"/scale/check", s.key)
		switch {
		case err != nil:
			bad = append(bad, fmt.Sprintf("%s: %v", s.kind, err))
		case code != s.wantStatus || reason != s.wantCode:
			bad = append(bad, fmt.Sprintf("%s: got %d %q, want %d %q", s.kind, code, reason, s.wantStatus, s.wantCode))
		default:
			good++
		}
	}
	kinds := map[string]bool{}
	for _, s := range b.samples {
		kinds[s.kind] = true
	}
	detail := fmt.Sprintf("%d/%d as expected (%d kinds: 200s and key.revoked, key.expired, key.wrong_environment, ip.not_allowed, key.unknown)",
		good, len(b.samples), len(kinds))
	for _, x := range bad {
		logf("sample mismatch: %s", x)
	}
	return len(bad) == 0, detail
}

// revocations starts a second node and revokes spare keys through n1,
// timing the admin answer and until the second node refuses the key.
func (b *bench) revocations(ctx context.Context, n1 *node) error {
	n2, err := b.start(ctx, "second")
	if err != nil {
		return err
	}
	b.rep.add("second node start, exec → /readyz 200", fmt.Sprintf("%.2f s", n2.ready.Seconds()), "—", "")
	rounds := min(b.c.revocations, len(b.spare))
	var answer, seen, total []time.Duration
	for i := range rounds {
		k := b.spare[i]
		if code, _, err := b.get(ctx, n2.proxy+"/scale/check", k.full); err != nil || code != 200 {
			return fmt.Errorf("revocation round %d: key %s answers %d (%v) on the second node before its revocation", i, k.id, code, err)
		}
		t0 := time.Now()
		if err := b.post(ctx, n1, "/admin/v1/keys/"+k.id+"/revoke", map[string]any{"reason": "scale bench"}, nil); err != nil {
			return err
		}
		answered := time.Now()
		answer = append(answer, answered.Sub(t0))
		if code, reason, err := b.get(ctx, n1.proxy+"/scale/check", k.full); err != nil || code != 401 || reason != "key.revoked" {
			return fmt.Errorf("revocation round %d: the revoking node answers %d %q (%v) right after the admin call", i, code, reason, err)
		}
		deadline := answered.Add(10 * time.Second)
		for {
			code, reason, err := b.get(ctx, n2.proxy+"/scale/check", k.full)
			if err != nil {
				return err
			}
			if code == 401 && reason == "key.revoked" {
				seen = append(seen, time.Since(answered))
				total = append(total, time.Since(t0))
				break
			}
			if code != 200 {
				return fmt.Errorf("revocation round %d: second node answered %d %q", i, code, reason)
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("revocation round %d: second node still accepts the key 10 s after the revocation", i)
			}
			time.Sleep(time.Millisecond)
		}
	}
	slices.Sort(answer)
	slices.Sort(seen)
	slices.Sort(total)
	b.rep.add(fmt.Sprintf("revoke through node 1: admin answer (×%d, p50 / max)", rounds),
		fmt.Sprintf("%s / %s", ms(pct(answer, 50)), ms(answer[len(answer)-1])), "reported", "")
	p99 := pct(seen, 99)
	b.rep.judge(fmt.Sprintf("revocation reaches node 2 after node 1's answer (×%d, p50 / p99 / max)", rounds),
		fmt.Sprintf("%s / %s / %s", ms(pct(seen, 50)), ms(p99), ms(seen[len(seen)-1])),
		fmt.Sprintf("p99 ≤ %s", ms(b.c.propagationTarget)), p99 <= b.c.propagationTarget)
	b.rep.add(fmt.Sprintf("revocation reaches node 2 after the admin request was sent (×%d, p50 / p99 / max)", rounds),
		fmt.Sprintf("%s / %s / %s", ms(pct(total, 50)), ms(pct(total, 99)), ms(total[len(total)-1])), "reported (an upper bound of commit → node 2)", "")
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// pct is the nearest-rank percentile of sorted durations.
func pct(sorted []time.Duration, p int) time.Duration {
	i := (p*len(sorted)+99)/100 - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func (b *bench) post(ctx context.Context, n *node, path string, in, out any) error {
	payload, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.admin+path, bytes.NewReader(payload))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.hc.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %d %s", path, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	if out != nil {
		return json.Unmarshal(body, out)
	}
	return nil
}

// get sends GET url (with the key as a Bearer token when set) and returns
// the status and the problem's reason code.
func (b *bench) get(ctx context.Context, url, key string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode < 300 {
		return resp.StatusCode, "", nil
	}
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(body, &p)
	return resp.StatusCode, p.Code, nil
}
