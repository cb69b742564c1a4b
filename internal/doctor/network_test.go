package doctor

import (
	"crypto/tls"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// closedAddr is a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// silentAddr is a loopback listener that accepts connections and never
// answers.
func silentAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// oldGateway answers whoami like a gateway that predates it (404
// route.not_found, problem+json) and every other request with status.
func oldGateway(status int, date func() time.Time) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if date != nil {
			w.Header().Set("Date", date().UTC().Format(http.TimeFormat))
		}
		w.Header().Set("X-Request-Id", "01OLDGATEWAY0000000000000")
		if r.URL.Path == WhoamiPath {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"type":"/.well-known/gatehouse/errors/route.not_found","status":404,"code":"route.not_found","request_id":"01OLDGATEWAY0000000000000"}`))
			return
		}
		w.WriteHeader(status)
	}
}

func TestNetworkLayers(t *testing.T) {
	live := genKey(t, "live")
	tlsSrv := httptest.NewUnstartedServer(oldGateway(200, nil))
	// The untrusted-certificate case makes the server log a failed
	// handshake; that is the point, not noise for the test output.
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0)
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	plain := httptest.NewServer(oldGateway(200, nil))
	t.Cleanup(plain.Close)
	trusted := tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs

	cases := []struct {
		desc    string
		url     string
		o       Options
		verdict string
		check   string
		level   Level
		detail  []string
		fix     string
	}{
		{desc: "closed port: connection refused",
			url: "http://" + closedAddr(t) + "/v1", verdict: NetworkRefused,
			check: checkTCP, level: Fail, detail: []string{"connection refused on port", "nothing listens there"},
			fix: "check the port in the URL and that the gateway is running"},
		{desc: "a listener that never answers: timeout at the HTTP layer",
			url: "http://" + silentAddr(t) + "/v1", o: Options{Timeout: 300 * time.Millisecond}, verdict: NetworkTimeout,
			check: checkHTTP, level: Fail, detail: []string{"accepted the connection but sent no HTTP response within 300 ms"},
			fix: "does not answer HTTP in time"},
		{desc: "a TLS URL on a listener that never answers: timeout in the handshake",
			url: "https://" + silentAddr(t) + "/v1", o: Options{Timeout: 300 * time.Millisecond}, verdict: NetworkTimeout,
			check: checkTLS, level: Fail, detail: []string{"TLS handshake with", "timed out after 300 ms"}},
		{desc: "a name that does not exist: DNS",
			url: "http://nonexistent.invalid/v1", verdict: NetworkDNS,
			check: checkDNS, level: Fail, detail: []string{"cannot resolve host nonexistent.invalid: check the URL or DNS"},
			fix: "This machine cannot resolve nonexistent.invalid"},
		{desc: "an untrusted certificate: TLS",
			url: tlsSrv.URL + "/v1", verdict: NetworkTLS,
			check: checkTLS, level: Fail, detail: []string{"TLS handshake failed", "unknown authority"},
			fix: "--cacert"},
		{desc: "https:// to a plain HTTP port: TLS",
			url: strings.Replace(plain.URL, "http://", "https://", 1) + "/v1", verdict: NetworkTLS,
			check: checkTLS, level: Fail, detail: []string{"does not speak TLS"},
			fix: "use http://"},
		{desc: "a trusted certificate passes the TLS layer",
			url: tlsSrv.URL + "/v1", o: Options{RootCAs: trusted}, verdict: VerdictOK,
			check: checkTLS, level: Pass, detail: []string{"TLS 1.3 with 127.0.0.1", "valid until"}},
		{desc: "DNS of a name that resolves",
			url: "http://localhost:" + strings.Split(plain.URL, ":")[2] + "/v1", verdict: VerdictOK,
			check: checkDNS, level: Pass, detail: []string{"localhost resolves to"}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			o := tc.o
			o.URL = tc.url
			o.Headers = []Header{{"Authorization", "Bearer " + typo(live)}}
			rep, err := Run(t.Context(), o)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Verdict != tc.verdict {
				t.Errorf("verdict %s, want %s\n%+v", rep.Verdict, tc.verdict, rep.Checks)
			}
			c := findCheck(rep.Checks, tc.check)
			if c == nil {
				t.Fatalf("no %s check: %+v", tc.check, rep.Checks)
			}
			if c.Level != tc.level {
				t.Errorf("%s level %d, want %d: %s", tc.check, c.Level, tc.level, c.Detail)
			}
			for _, d := range tc.detail {
				if !strings.Contains(c.Detail, d) {
					t.Errorf("%s detail %q lacks %q", tc.check, c.Detail, d)
				}
			}
			if !strings.Contains(rep.Fix, tc.fix) {
				t.Errorf("fix %q lacks %q", rep.Fix, tc.fix)
			}
			// The local checks ran first and are kept, network or not.
			if k := findCheck(rep.Checks, checkKeyFormat); k == nil || k.Level != Fail || rep.Checks[0].Group != GroupLocal {
				t.Errorf("the local key check is missing or not first: %+v", rep.Checks)
			}
			// No Go error chains: no "dial tcp", no "Get \"".
			for _, c := range rep.Checks {
				if strings.Contains(c.Detail, "dial tcp") || strings.Contains(c.Detail, `Get "`) {
					t.Errorf("check %s shows a raw Go error: %s", c.Name, c.Detail)
				}
			}
			assertNoSecret(t, rep.Checks, []string{rep.Fix}, live)
		})
	}
}

// TestFallbackWithoutWhoami: against a gateway that predates whoami the
// doctor says so, sends a safe request itself, and does not send an
// unsafe one unless told to.
func TestFallbackWithoutWhoami(t *testing.T) {
	ok := httptest.NewServer(oldGateway(200, nil))
	t.Cleanup(ok.Close)
	failing := httptest.NewServer(oldGateway(503, nil))
	t.Cleanup(failing.Close)
	live := genKey(t, "live")
	auth := []Header{{"Authorization", "Bearer " + live}}
	cases := []struct {
		desc    string
		o       Options
		verdict string
		fix     string
		checks  []string // names that must be present
	}{
		{desc: "GET is sent when there is no dry run", o: Options{URL: ok.URL + "/v1", Headers: auth},
			verdict: VerdictOK, fix: "accepted", checks: []string{checkWhoami, "fallback", checkReal}},
		{desc: "POST is not sent without --send", o: Options{URL: ok.URL + "/v1", Method: "POST", Headers: auth},
			verdict: Inconclusive, fix: "rerun with --send", checks: []string{checkWhoami}},
		{desc: "POST with --send", o: Options{URL: ok.URL + "/v1", Method: "POST", Headers: auth, Send: true},
			verdict: VerdictOK, checks: []string{checkReal}},
		{desc: "without a dry run, a local problem decides", o: Options{URL: ok.URL + "/v1", Method: "POST", Headers: []Header{{"Authorization", "Token " + live}}},
			verdict: "auth.scheme_unsupported", fix: "instead of 'Token <key>'"},
		{desc: "a 503 from the service behind the gateway", o: Options{URL: failing.URL + "/v1", Headers: auth},
			verdict: ServiceError, fix: "the service behind it failed (503): tell the API owner, quoting request ID 01OLDGATEWAY0000000000000"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			rep, err := Run(t.Context(), tc.o)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Verdict != tc.verdict || !strings.Contains(rep.Fix, tc.fix) {
				t.Errorf("verdict %s fix %q; want %s, %q\n%+v", rep.Verdict, rep.Fix, tc.verdict, tc.fix, rep.Checks)
			}
			for _, n := range tc.checks {
				if findCheck(rep.Checks, n) == nil {
					t.Errorf("no %q check: %+v", n, rep.Checks)
				}
			}
			if tc.o.Method == "POST" && !tc.o.Send && findCheck(rep.Checks, checkReal) != nil {
				t.Errorf("an unsafe request was sent without --send")
			}
		})
	}
}

func TestClockSkew(t *testing.T) {
	cases := []struct {
		desc   string
		offset time.Duration
		level  Level
		detail string
	}{
		{desc: "in step", offset: 0, level: Pass, detail: "agrees with this machine's"},
		{desc: "10 s is fine", offset: 10 * time.Second, level: Pass, detail: "10 s ahead of this machine's (fine"},
		{desc: "2 minutes ahead is worth a warning", offset: 2 * time.Minute, level: Warn, detail: "2 min ahead of this machine's: JWT exp/nbf"},
		{desc: "5 minutes behind", offset: -5 * time.Minute, level: Warn, detail: "5 min behind this machine's"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			// The gateway's Date is the local time plus offset; both
			// clocks read the same real time, so only offset differs.
			srv := httptest.NewServer(oldGateway(200, func() time.Time { return time.Now().Add(tc.offset) }))
			defer srv.Close()
			rep, err := Run(t.Context(), Options{URL: srv.URL + "/v1"})
			if err != nil {
				t.Fatal(err)
			}
			c := findCheck(rep.Checks, checkClock)
			if c == nil || c.Level != tc.level || !strings.Contains(c.Detail, tc.detail) {
				t.Fatalf("clock check %+v, want level %d with %q", c, tc.level, tc.detail)
			}
		})
	}
}

func TestRootCause(t *testing.T) {
	_, err := (&net.Dialer{}).Dial("tcp", closedAddr(t))
	if got := rootCause(err); got != "connection refused" {
		t.Errorf("rootCause(dial error) = %q, want the syscall's message", got)
	}
	_, err = tls.Dial("tcp", closedAddr(t), &tls.Config{})
	if got := rootCause(err); strings.Contains(got, "dial") {
		t.Errorf("rootCause(tls dial error) = %q", got)
	}
}

// TestNoDryRunSaysWhy: when whoami gives no dry run because it is
// rate-limited, or because the server is no Gatehouse gateway at all (the
// admin listener, plain HTTP sent to a TLS port), the doctor says that and
// sends no request — another server's answer is not the service's, and
// --send is not the fix for a rate limit.
func TestNoDryRunSaysWhy(t *testing.T) {
	limited := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, WhoamiPath) {
			w.Header().Set("Retry-After", "7")
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(429)
			_, _ = w.Write([]byte(`{"code":"rate.exceeded","status":429}`))
			return
		}
		t.Errorf("the doctor sent %s %s", r.Method, r.URL.Path)
	}))
	t.Cleanup(limited.Close)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, WhoamiPath) {
			t.Errorf("the doctor sent %s %s to a server that is no gateway", r.Method, r.URL.Path)
		}
		http.Error(w, "Client sent an HTTP request to an HTTPS server.", http.StatusBadRequest)
	}))
	t.Cleanup(other.Close)
	auth := []Header{{"Authorization", "Bearer " + genKey(t, "live")}}
	for _, tc := range []struct {
		desc, url, fix string
	}{
		{"rate-limited", limited.URL + "/v1", "run the doctor again in 7 s"},
		{"not a gateway", other.URL + "/v1", "did not answer as a Gatehouse gateway"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			rep, err := Run(t.Context(), Options{URL: tc.url, Headers: auth})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Verdict != Inconclusive || !strings.Contains(rep.Fix, tc.fix) || strings.Contains(rep.Fix, "--send") {
				t.Errorf("verdict %s fix %q; want %s saying %q", rep.Verdict, rep.Fix, Inconclusive, tc.fix)
			}
			if findCheck(rep.Checks, checkReal) != nil {
				t.Errorf("a real request was sent")
			}
		})
	}
}
