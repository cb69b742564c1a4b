package proxytest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"gatehouse/internal/domain"
	"gatehouse/internal/proxy"
	"gatehouse/internal/reason"
)

// Run runs the forwarding conformance suite against the engine newEngine
// makes (called once per subtest).
func Run(t *testing.T, newEngine func(t *testing.T) proxy.Forwarder) {
	tests := []struct {
		name string
		fn   func(t *testing.T, newEngine func(t *testing.T) proxy.Forwarder)
	}{
		{"IdentityHeaders", testIdentityHeaders},
		{"HostHeader", testHostHeader},
		{"InboundGatehouseHeadersRemoved", testSpoofing},
		{"ConnectionHeaderCannotStripGatewayHeaders", testConnectionAttack},
		{"UnderscoreSpellingsOfGatewayHeadersRemoved", testUnderscoreSpellings},
		{"CredentialHeaders", testCredentialHeaders},
		{"RepeatedHeadersPreserved", testRepeatedHeaders},
		{"HopByHopResponseHeadersRemoved", testHopByHopResponse},
		{"StreamingFlushedAsItArrives", testStreaming},
		{"WebSocketEcho", testWebSocket},
		{"ResponseTimeout", testResponseTimeout},
		{"ReadIdleTimeout", testReadIdleTimeout},
		{"WriteTimeout", testWriteTimeout},
		{"ConnectionRefused", testRefused},
		{"RoundRobin", testRoundRobin},
		{"EjectionAndRecovery", testEjection},
		{"AllEjectedTriesLeastRecentlyEjected", testAllEjected},
		{"RetriesOnlyIdempotent", testRetries},
		{"LargeBodies", testLargeBodies},
		{"PathAndQuery", testPathAndQuery},
		{"UpstreamDiesMidBody", testMidBody},
		{"ExpectContinue", testExpectContinue},
		{"Trailers", testTrailers},
		{"TrailerAnnouncementsTrue", testTrailerAnnouncements},
		{"BodilessResponses", testBodiless},
		{"RequestSmugglingRejectedByListener", testSmuggling},
		{"TraceContext", testTraceContext},
		{"GatewayOwnsCORS", testOwnCORS},
		{"UpstreamRequestIDNotRelayed", testUpstreamRequestID},
		{"GatewayResponseFieldsNotSpoofable", testGatewayResponseFields},
		{"MalformedRequestBodyIsTheClients", testMalformedBody},
		{"BodyOverMaxBodyIsTooLarge", testBodyOverMaxBody},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newEngine) })
	}
}

func testIdentityHeaders(t *testing.T, newEngine func(*testing.T) proxy.Forwarder) {
	cases := []struct {
		desc         string
		forwardedFor string
		wantXFF      string
	}{
		{"client IP alone", "", "203.0.113.7"},
		{"caller-vetted proxy chain", "198.51.100.1, 203.0.113.7", "198.51.100.1, 203.0.113.7"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			g := NewGateway(t, newEngine)
			up := NewUpstream(t, OK)
			g.Service(nil, up.URL)
			g.mu.Lock()
			g.route.ForwardedFor = tc.forwardedFor
			g.mu.Unlock()
			resp, body := g.Get("/v1/orders?id=1",
				"X-Forwarded-For", "6.6.6.6", "X-Request-Id", "client-chosen", "User-Agent", "shop-mobile/1.2",
				"X-Gatehouse-Identity", "forged.by.client")
			if resp.StatusCode != 200 || string(body) != "ok" {
				t.Fatalf("got %d %q", resp.StatusCode, body)
			}
			s := up.Seen()
			id := DefaultIdentity()
			want := map[string]string{
				"X-Gatehouse-Tenant":     id.Tenant,
				"X-Gatehouse-Consumer":   id.Consumer,
				"X-Gatehouse-Credential": id.Credential,
				"X-Gatehouse-Scopes":     id.Scopes,
				"X-Gatehouse-Identity":   id.Token,
				"X-Request-Id":           id.RequestID,
				"X-Forwarded-For":        tc.wantXFF,
				"X-Forwarded-Proto":      "http",
				"X-Forwarded-Host":       strings.TrimPrefix(g.URL(), "http://"),
				"User-Agent":             "shop-mobile/1.2",
			}
			for k, v := range want {
				if got := s.Header.Values(k); len(got) != 1 || got[0] != v {
					t.Errorf("upstream %s = %q, want exactly [%q]", k, got, v)
				}
			}
			if s.Host != strings.TrimPrefix(up.URL, "http://") {
				t.Errorf("upstream Host = %q, want the target's %q", s.Host, up.URL)
			}
			rec := g.Next()
			if rec.Err != nil || rec.Res.Status != 200 || rec.Res.Target != up.URL || rec.Res.Engine == "" || rec.Res.BytesOut != 2 {
				t.Errorf("record = %+v", rec)
			}
		})
	}
}

func testHostHeader(t *testing.T, newEngine func(*testing.T) proxy.Forwarder) {
	cases := []struct {
		desc, hostHeader string
		preserve         bool
	}{
		{"target host by default", "", false},
		{"client host when preserved", "preserve", true},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			g := NewGateway(t, newEngine)
			up := NewUpstream(t, OK)
			g.Service(func(s *domain.Service) { s.HostHeader = tc.hostHeader }, up.URL)
			req := g.NewRequest("GET", "/", nil)
			req.Host = "api.example.com"
			g.Do(req)
			s := up.Seen()
			want := strings.TrimPrefix(up.URL, "http://")
			if tc.preserve {
				want = "api.example.com"
			}
			if s.Host != want {
				t.Errorf("upstream Host = %q, want %q", s.Host, want)
			}
			if got := s.Header.Get("X-Forwarded-Host"); got != "api.example.com" {
				t.Errorf("X-Forwarded-Host = %q", got)
			}
			g.Next()
		})
	}
}

func testSpoofing(t *testing.T, newEngine func(*testing.T) proxy.Forwarder) {
	g := NewGateway(t, newEngine)
	up := NewUpstream(t, OK)
	g.Service(nil, up.URL)
	id := DefaultIdentity()
	id.Consumer = "" // an anonymous route: the gateway vouches for no consumer
	id.Token = ""    // and signs no identity token
	g.mu.Lock()
	g.route.Identity = id
	g.mu.Unlock()
	req := g.NewRequest("GET", "/", nil,
		"X-Gatehouse-Tenant", "t_evil",
		"X-Gatehouse-Admin", "true",
		"Forwarded", "for=6.6.6.6",
		"X-Real-Ip", "6.6.6.6",
		"X-Forwarded-Proto", "https")
	// Non-canonical spellings go on the wire as written.
	req.Header["x-gatehouse-consumer"] = []string{"c_victim"}
	req.Header["X-GATEHOUSE-SCOPES"] = []string{"admin"}
	// A forged identity token, in two spellings: an upstream that verifies
	// tokens would reject it, one that only decodes them would not.
	req.Header["X-Gatehouse-Identity"] = []string{"forged.identity.token"}
	req.Header["x-gatehouse-identity"] = []string{"forged.identity.token"}
	g.Do(req)
	s := up.Seen()
	for k, vv := range s.Header {
		low := strings.ToLower(k)
		if strings.HasPrefix(low, "x-gatehouse-") {
			switch k {
			case "X-Gatehouse-Tenant":
				if !slices.Equal(vv, []string{"t_acme"}) {
					t.Errorf("%s = %q: the client's value survived", k, vv)
				}
			case "X-Gatehouse-Scopes", "X-Gatehouse-Credential":
				if len(vv) != 1 || vv[0] == "admin" {
					t.Errorf("%s = %q", k, vv)
				}
			default:
				t.Errorf("upstream got inbound %s: %q", k, vv)
			}
		}
		for _, v := range vv {
			if strings.Contains(v, "6.6.6.6") || v == "c_victim" || strings.Contains(v, "forged") {
				t.Errorf("upstream %s = %q: spoofed value forwarded", k, v)
			}
		}
	}
	if got := s.Header.Get("X-Forwarded-Proto"); got != "http" {
		t.Errorf("X-Forwarded-Proto = %q, want the gateway's view", got)
	}
	if got := s.Header.Get("X-Real-Ip"); got != "" && got != "203.0.113.7" {
		t.Errorf("X-Real-Ip = %q", got)
	}
	g.Next()
}

func testConnectionAttack(t *testing.T, newEngine func(*testing.T) proxy.Forwarder) {
	g := NewGateway(t, newEngine)
	up := NewUpstream(t, OK)
	g.Service(nil, up.URL)
	// Raw bytes: the client names the gateway's identity headers (and a
	// header of its own) in Connection, hoping a proxy drops them after
	// setting them.
	raw := "GET /attack HTTP/1.1\r\n" +
		"Host: gw\r\n" +
		"Connection: keep-alive, X-Gatehouse-Consumer, x-gatehouse-tenant, X-Request-Id, X-Forwarded-For, X-Gatehouse-Scopes, X-Gatehouse-Identity, X-Custom-Hop\r\n" +
		"X-Custom-Hop: dropped\r\n" +
		"X-Gatehouse-Consumer: c_evil\r\n" +
		"X-Gatehouse-Identity: forged.identity.token\r\n" +
		"Keep-Alive: timeout=5\r\n" +
		"Proxy-Authorization: Basic Zm9vOmJhcg==\r\n" +
		"X-Kept: kept\r\n" +
		"\r\n"
	resp, _ := RawExchange(t, g.Server.Listener.Addr().String(), raw)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	s := up.Seen()
	id := DefaultIdentity()
	for k, v := range map[string]string{
		"X-Gatehouse-Consumer": id.Consumer, "X-Gatehouse-Tenant": id.Tenant,
		"X-Gatehouse-Scopes": id.Scopes, "X-Request-Id": id.RequestID, "X-Forwarded-For": "203.0.113.7",
		"X-Gatehouse-Identity": id.Token, "X-Kept": "kept",
	} {
		if got := s.Header.Values(k); !slices.Equal(got, []string{v}) {
			t.Errorf("upstream %s = %q, want [%q]", k, got, v)
		}
	}
	for _, k := range []string{"X-Custom-Hop", "Keep-Alive", "Proxy-Authorization"} {
		if v, ok := s.Header[k]; ok {
			t.Errorf("hop-by-hop %s forwarded: %q", k, v)
		}
	}
	for _, v := range s.Header.Values("Connection") {
		if strings.Contains(strings.ToLower(v), "gatehouse") || strings.Contains(strings.ToLower(v), "x-request-id") {
			t.Errorf("client's Connection list forwarded: %q", v)
		}
	}
	g.Next()
}

// testUnderscoreSpellings: a CGI or WSGI upstream (PHP, Python's
// wsgiref) reads both "-" and "_" in a field name as "_", so
// X_Gatehouse_Consumer reaches it as HTTP_X_GATEHOUSE_CONSUMER — the very
// variable X-Gatehouse-Consumer fills — and repeated names are joined with
// a comma, the client's value first when it came first. Every field the
// gateway sets or strips must therefore also go when its name, with "_"
// read as "-" and in any case, names one of them; other underscore names
// pass (nginx would drop them all: underscores_in_headers off). The
// upstream's view is checked as such a server builds it.
func testUnderscoreSpellings(t *testing.T, newEngine func(*testing.T) proxy.Forwarder) {
	id := DefaultIdentity()
	cases := []struct {
		desc, line string   // a raw header line the client sends
		cgi        string   // the CGI variable it would fill
		want       []string // that variable's values at the upstream, nil for none
	}{
		{"identity header: consumer", "X_Gatehouse_Consumer: admin", "HTTP_X_GATEHOUSE_CONSUMER", []string{id.Consumer}},
		{"identity header: scopes", "X_Gatehouse_Scopes: admin:all", "HTTP_X_GATEHOUSE_SCOPES", []string{id.Scopes}},
		{"identity header: tenant, lower case", "x_gatehouse_tenant: t_evil", "HTTP_X_GATEHOUSE_TENANT", []string{id.Tenant}},
		{"identity header: credential, mixed separators", "X-Gatehouse_Credential: forged", "HTTP_X_GATEHOUSE_CREDENTIAL", []string{id.Credential}},
		{"identity token", "X_GATEHOUSE_IDENTITY: forged.identity.token", "HTTP_X_GATEHOUSE_IDENTITY", []string{id.Token}},
		{"an X-Gatehouse-* name the gateway does not set", "X_Gatehouse_Admin: true", "HTTP_X_GATEHOUSE_ADMIN", nil},
		{"X-Forwarded-For", "X_Forwarded_For: 6.6.6.6", "HTTP_X_FORWARDED_FOR", []string{"203.0.113.7"}},
		{"X-Forwarded-Proto", "X_Forwarded_Proto: https", "HTTP_X_FORWARDED_PROTO", []string{"http"}},
		{"X-Real-Ip", "X_Real_IP: 6.6.6.6", "HTTP_X_REAL_IP", []string{"203.0.113.7"}},
		{"X-Request-Id", "X_Request_Id: client-chosen", "HTTP_X_REQUEST_ID", []string{id.RequestID}},
		{"a credential header the route drops", "X_Api_Key: gk_live_other", "HTTP_X_API_KEY", nil},
		{"hop-by-hop: Proxy-Authorization", "Proxy_Authorization: Basic Zm9vOmJhcg==", "HTTP_PROXY_AUTHORIZATION", nil},
		{"framing: Transfer-Encoding", "Transfer_Encoding: chunked", "HTTP_TRANSFER_ENCODING", nil},
		{"control: another underscore name passes", "X_Custom_Field: kept", "HTTP_X_CUSTOM_FIELD", []string{"kept"}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			g := NewGateway(t, newEngine)
			up := NewUpstream(t, OK)
			g.Service(nil, up.URL)
			raw := "GET /cgi HTTP/1.1\r\nHost: gw\r\n" + tc.line + "\r\nX-Kept: kept\r\n\r\n"
			resp, _ := RawExchange(t, g.Server.Listener.Addr().String(), raw)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			env := cgiView(up.Seen().Header)
			if got := env[tc.cgi]; !slices.Equal(got, tc.want) {
				t.Errorf("upstream %s = %q, want %q", tc.cgi, got, tc.want)
			}
			if got := env["HTTP_X_KEPT"]; !slices.Equal(got, []string{"kept"}) {
				t.Errorf("HTTP_X_KEPT = %q: an ordinary header was lost", got)
			}
			if rec := g.Next(); rec.Err != nil || rec.Res.Status != 200 {
				t.Errorf("record = %+v", rec)
			}
		})
	}
}

// cgiView is a request's fields as a CGI server names them: HTTP_ and the
// name upper-cased with "-" made "_", the values of names that collide in
// one variable collected together.
func cgiView(h http.Header) map[string][]string {
	env := map[string][]string{}
	for k, vv := range h {
		name := "HTTP_" + strings.ToUpper(strings.ReplaceAll(k, "-", "_"))
		env[name] = append(env[name], vv...)
	}
	return env
}

func testCredentialHeaders(t *testing.T, newEngine func(*testing.T) proxy.Forwarder) {
	cases := []struct {
		desc    string
		drop    []string
		wantKey bool
	}{
		{"dropped by default", nil, false},
		{"forwarded when the route says so", []string{}, true},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			g := NewGateway(t, newEngine)
			up := NewUpstream(t, OK)
			g.Service(nil, up.URL)
			g.mu.Lock()
			g.route.Drop = tc.drop
			g.mu.Unlock()
			g.Get("/", "Authorization", "Bearer gk_live_7Hq2xK9pLm3Q_secret", "X-API-Key", "gk_live_other", "Cookie", "session=1")
			s := up.Seen()
			_, hasAuth := s.Header["Authorization"]
			_, hasKey := s.Header["X-Api-Key"]
			if hasAuth != tc.wantKey || hasKey != tc.wantKey {
				t.Errorf("Authorization present=%v X-Api-Key present=%v, want %v", hasAuth, hasKey, tc.wantKey)
			}
			if tc.wantKey && s.Header.Get("Authorization") != "Bearer gk_live_7Hq2xK9pLm3Q_secret" {
				t.Errorf("Authorization altered: %q", s.Header.Get("Authorization"))
			}
			if s.Header.Get("Cookie") != "session=1" {
				t.Errorf("Cookie = %q", s.Header.Get("Cookie"))
			}
			g.Next()
		})
	}
}

func testRepeatedHeaders(t *testing.T, newEngine func(*testing.T) proxy.Forwarder) {
	g := NewGateway(t, newEngine)
	up := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Add("Set-Cookie", "a=1; Path=/")
		h.Add("Set-Cookie", "a=2; Path=/admin")
		h.Add("Set-Cookie", "b=3; HttpOnly")
		h.Add("X-Resp", "first")
		h.Add("X-Resp", "second, third")
		h["x-lower-Case"] = []string{"MiXeD Value"}
		h.Set("Cache-Control", "no-cache")
		w.WriteHeader(201)
	})
	g.Service(nil, up.URL)
	req := g.NewRequest("GET", "/", nil,
		"X-Multi", "a", "X-Multi", "b", "X-Multi", "c", "X-List", "1, 2", "X-Value-Case", "MiXeD VaLuE",
		"Accept", "text/html", "Accept", "application/json;q=0.9")
	resp, _ := g.Do(req)
	s := up.Seen()
	for k, want := range map[string][]string{
		"X-Multi": {"a", "b", "c"}, "X-List": {"1, 2"}, "X-Value-Case": {"MiXeD VaLuE"},
		"Accept": {"text/html", "application/json;q=0.9"},
	} {
		if got := s.Header.Values(k); !slices.Equal(got, want) {
			t.Errorf("upstream %s = %q, want %q", k, got, want)
		}
	}
	if resp.StatusCode != 201 {
		t.Errorf("status %d", resp.StatusCode)
	}
	for k, want := range map[string][]string{
		"Set-Cookie":    {"a=1; Path=/", "a=2; Path=/admin", "b=3; HttpOnly"},
		"X-Resp":        {"first", "second, third"},
		"X-Lower-Case":  {"MiXeD Value"},
		"Cache-Control": {"no-cache"},
	} {
		if got := resp.Header.Values(k); !slices.Equal(got, want) {
			t.Errorf("client %s = %q, want %q", k, got, want)
		}
	}
	g.Next()
}

func testHopByHopResponse(t *testing.T, newEngine func(*testing.T) proxy.Forwarder) {
	g := NewGateway(t, newEngine)
	raw := NewRawUpstream(t, "HTTP/1.1 200 OK\r\n"+
		"Content-Length: 2\r\n"+
		"Connection: X-Internal\r\n"+
		"X-Internal: secret\r\n"+
		"Keep-Alive: timeout=1\r\n"+
		"Proxy-Authenticate: Basic\r\n"+
		"X-Public: yes\r\n"+
		"\r\nok")
	g.Service(nil, raw.URL)
	resp, body := g.Get("/")
	if resp.StatusCode != 200 || string(body) != "ok" {
		t.Fatalf("got %d %q", resp.StatusCode, body)
	}
	for _, k := range []string{"X-Internal", "Keep-Alive", "Proxy-Authenticate"} {
		if v, ok := resp.Header[k]; ok {
			t.Errorf("client got hop-by-hop %s: %q", k, v)
		}
	}
	if resp.Header.Get("X-Public") != "yes" {
		t.Errorf("X-Public = %q", resp.Header.Get("X-Public"))
	}
	g.Next()
}

func testStreaming(t *testing.T, newEngine func(*testing.T) proxy.Forwarder) {
	cases := []struct{ desc, contentType, format string }{
		{"server-sent events", "text/event-stream", "data: event-%d\n\n"},
		{"chunked ndjson", "application/x-ndjson", "{\"n\":%d}\n\n"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			g := NewGateway(t, newEngine)
			next := make(chan struct{})
			up := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tc.contentType)
				w.WriteHeader(200)
				http.NewResponseController(w).Flush()
				for i := range 3 {
					select {
					case <-next:
					case <-r.Context().Done():
						return
					}
					fmt.Fprintf(w, tc.format, i)
					http.NewResponseController(w).Flush()
				}
			})
			g.Service(nil, up.URL)
			resp, err := g.Client.Do(g.NewRequest("GET", "/events", nil))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.Header.Get("Content-Type") != tc.contentType {
				t.Errorf("Content-Type = %q", resp.Header.Get("Content-Type"))
			}
			events := make(chan string)
			go func() {
				br := bufio.NewReader(resp.Body)
				var ev strings.Builder
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						close(events)
						return
					}
					if line == "\n" {
						events <- ev.String()
						ev.Reset()
						continue
					}
					ev.WriteString(line)
				}
			}()
			for i := range 3 {
				// The upstream sends event i only now, and event i+1 only
				// after the client has read event i: a proxy that buffers
				// never delivers it.
				select {
				case next <- struct{}{}:
				case <-time.After(guard):
					t.Fatalf("upstream not ready for event %d", i)
				}
				select {
				case ev, ok := <-events:
					want := strings.TrimSuffix(fmt.Sprintf(tc.format, i), "\n")
					if !ok || ev != want {
						t.Fatalf("event %d = %q (open=%v), want %q", i, ev, ok, want)
					}
				case <-time.After(guard):
					t.Fatalf("event %d was not flushed to the client while the upstream waited", i)
				}
			}
			g.Next()
		})
	}
}

func testWebSocket(t *testing.T, newEngine func(*testing.T) proxy.Forwarder) {
	g := NewGateway(t, newEngine)
	up := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.SetReadLimit(1 << 20)
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, append([]byte("echo:"), msg...)); err != nil {
				return
			}
		}
	})
	g.Service(nil, up.URL)
	c, resp, err := websocket.Dial(ctx(t), "ws"+strings.TrimPrefix(g.URL(), "http")+"/ws", nil)
	if err != nil {
		t.Fatalf("dial through the gateway: %v (resp %v)", err, resp)
	}
	c.SetReadLimit(1 << 20)
	for _, msg := range []string{"hello", "world", strings.Repeat("x", 100<<10)} {
		if err := c.Write(ctx(t), websocket.MessageText, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.Read(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != "echo:"+msg {
			t.Fatalf("echo = %.40q, want %.40q", got, "echo:"+msg)
		}
	}
	s := up.Seen()
	if s.Header.Get("X-Gatehouse-Consumer") != DefaultIdentity().Consumer || !strings.EqualFold(s.Header.Get("Upgrade"), "websocket") {
		t.Errorf("upgrade request upstream: consumer %q upgrade %q", s.Header.Get("X-Gatehouse-Consumer"), s.Header.Get("Upgrade"))
	}
	c.Close(websocket.StatusNormalClosure, "")
	rec := g.Next()
	if rec.Err != nil || rec.Res.Status != http.StatusSwitchingProtocols {
		t.Errorf("record = %+v", rec)
	}
}

// blocking returns a handler that waits until the test ends, and the
// upstream it runs on.
func blocking(t *testing.T, before func(w http.ResponseWriter)) *Upstream {
	release := make(chan struct{})
	up := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if before != nil {
			before(w)
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) }) // runs before the server's Close
	return up
}

func expectRejection(t *testing.T, g *Gateway, resp *http.Response, body []byte, code string, status int, up string) {
	t.Helper()
	if resp != nil {
		if resp.StatusCode != status {
			t.Errorf("status = %d, want %d", resp.StatusCode, status)
		}
		if !bytes.Contains(body, []byte(`"code":"`+code+`"`)) {
			t.Errorf("body = %s, want code %s", body, code)
		}
		if resp.Header.Get("Www-Authenticate") != "" {
			t.Errorf("an upstream failure must not look like an auth failure: WWW-Authenticate %q", resp.Header.Get("Www-Authenticate"))
		}
		if resp.Header.Get("X-Request-Id") == "" {
			t.Error("rejection without X-Request-Id")
		}
		host := strings.TrimPrefix(up, "http://")
		if bytes.Contains(body, []byte(host)) {
			t.Errorf("the caller was told the upstream address: %s", body)
		}
	}
	rec := g.Next()
	re := rec.Reason()
	if re == nil || re.Code != code {
		t.Fatalf("Forward error = %v, want %s", rec.Err, code)
	}
	if !strings.Contains(re.Debug, up) {
		t.Errorf("operator debug %q does not name the target %s", re.Debug, up)
	}
	if rec.Res.Status != 0 {
		t.Errorf("Result.Status = %d for a response that never started", rec.Res.Status)
	}
	if en, _ := reason.Lookup(re.Code); en.Status != status {
		t.Errorf("catalogue status %d", en.Status)
	}
}

func testResponseTimeout(t *testing.T, newEngine func(*testing.T) proxy.Forwarder) {
	g := NewGateway(t, newEngine)
	up := blocking(t, nil)
	g.Service(func(s *domain.Service) { s.Timeouts.Response = domain.Duration(150 * time.Millisecond) }, up.URL)
	resp, body := g.Get("/slow")
	expectRejection(t, g, resp, body, reason.UpstreamTimeout, 504, up.URL)
}

func testReadIdleTimeout(t *testing.T, newEngine func(*testing.T) proxy.Forwarder) {
	g := NewGateway(t, newEngine)
	up := blocking(t, func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "partial ")
		http.NewResponseController(w).Flush()
	})
	g.Service(func(s *domain.Service) { s.Timeouts.Read = domain.Duration(150 * time.Millisecond) }, up.URL)
	resp, err := g.Client.Do(g.NewRequest("GET", "/stall", nil))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Errorf("the client saw a clean end after %q; a stalled body must abort", b)
	}
	if !strings.HasPrefix(string(b), "partial") {
		t.Errorf("body before the stall = %q", b)
	}
	rec := g.Next()
	if rec.Err != nil || rec.Res.Status != 200 || rec.Res.Err == nil {
		t.Fatalf("record = %+v, want a started response with Result.Err", rec)
	}
}

func testWriteTimeout(t *testing.T, newEngine func(*testing.T) proxy.Forwarder) {
	g := NewGateway(t, newEngine)
	up := blocking(t, nil) // never reads the request body
	g.Service(func(s *domain.Service) { s.Timeouts.Write = domain.Duration(200 * time.Millisecond) }, up.URL)
	req := g.NewRequest("POST", "/upload", NewPattern(256<<20))
	req.ContentLength = 256 << 20
	resp, err := g.Client.Do(req)
	if err == nil {
		// The gateway may answer while the client is still sending; the
		// client may see either the 504 or a reset. The gateway's own
		// verdict below is what matters.
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	rec := g.Next()
	if re := rec.Reason(); re == nil || re.Code != reason.UpstreamTimeout || !strings.Contains(re.Debug, up.URL) {
		t.Fatalf("Forward error = %v, want upstream.timeout naming %s", rec.Err, up.URL)
	}
}

func testRefused(t *testing.T, newEngine func(*testing.T) proxy.Forwarder) {
	g := NewGateway(t, newEngine)
	target := ClosedURL(t)
	g.Service(nil, target)
	resp, body := g.Get("/")
	expectRejection(t, g, resp, body, reason.UpstreamUnavailable, 502, target)
}

func testRoundRobin(t *testing.T, newEngine func(*testing.T) proxy.Forwarder) {
	cases := []struct {
		desc    string
		weights []int
		n       int
		want    []int64
	}{
		{"equal weights", []int{1, 1, 1}, 30, []int64{10, 10, 10}},
		{"weighted 3:1", []int{3, 1}, 40, []int64{30, 10}},
		{"weighted 5:1:1", []int{5, 1, 1}, 70, []int64{50, 10, 10}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			g := NewGateway(t, newEngine)
			var ups []*Upstream
			var targets []string
			for _, w := range tc.weights {
				u := NewUpstream(t, OK)
				ups = append(ups, u)
				targets = append(targets, u.URL+"|"+strconv.Itoa(w))
			}
			g.Service(nil, targets...)
			for range tc.n {
				resp, _ := g.Get("/")
				if resp.StatusCode != 200 {
					t.Fatalf("status %d", resp.StatusCode)
				}
				g.Next()
			}
			for i, u := range ups {
				if got := u.Hits.Load(); got != tc.want[i] {
					t.Errorf("target %d got %d requests, want %d", i, got, tc.want[i])
				}
			}
		})
	}
}

// flaky returns an upstream that, while failing is set, drops each
// connection without answering (a crashed backend).
func flaky(t *testing.T, failing *atomic.Bool) *Upstream {
	return NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			panic(http.ErrAbortHandler) // net/http closes the connection, no response
		}
		_, _ = io.WriteString(w, "ok")
	})
}

func testEjection(t *testing.T, newEngine func(*testing.T) proxy.Forwarder) {
	g := NewGateway(t, newEngine)
	good := NewUpstream(t, OK)
	var failing atomic.Bool
	failing.Store(true)
	bad := flaky(t, &failing)
	up := g.Service(func(s *domain.Service) {
		s.EjectAfter = 2
		s.EjectFor = domain.Duration(10 * time.Second)
	}, good.URL, bad.URL)

	post := func() (int, string) {
		t.Helper()
		resp, _ := g.Do(g.NewRequest("POST", "/", strings.NewReader("x")))
		rec := g.Next()
		return resp.StatusCode, rec.Res.Target
	}
	// Round-robin alternates; POST is never retried, so each failure on
	// the bad target reaches the client as 502 and counts once.
	failures := 0
	for i := 0; failures < 2; i++ {
		if i > 10 {
			t.Fatal("the failing target was not picked twice in 10 requests")
		}
		status, target := post()
		if target == bad.URL {
			if status != 502 {
				t.Fatalf("request to the failing target answered %d", status)
			}
			failures++
		}
	}
	if st := up.Status(); !st[1].Ejected || st[1].Failures != 2 || st[0].Ejected {
		t.Fatalf("health after 2 consecutive failures = %+v", st)
	}
	badHits := bad.Hits.Load()
	for range 6 {
		if status, target := post(); status != 200 || target != good.URL {
			t.Fatalf("while ejected: %d from %s", status, target)
		}
	}
	if bad.Hits.Load() != badHits {
		t.Fatal("the ejected target still received requests")
	}

	// Ejection ends after EjectFor on the gateway's clock. Still failing:
	// on probation, one failure ejects it again at once.
	g.Clock.Advance(10 * time.Second)
	for i := 0; ; i++ {
		if i > 4 {
			t.Fatal("the target back from ejection was never tried")
		}
		if status, target := post(); target == bad.URL {
			if status != 502 {
				t.Fatalf("status %d", status)
			}
			break
		}
	}
	if !up.Status()[1].Ejected {
		t.Fatal("one failure on probation did not eject the target again")
	}

	// Healthy again: after the window it takes its share and is cleared.
	failing.Store(false)
	g.Clock.Advance(10 * time.Second)
	badHits = bad.Hits.Load()
	for range 6 {
		if status, _ := post(); status != 200 {
			t.Fatalf("status %d after recovery", status)
		}
	}
	if got := bad.Hits.Load() - badHits; got != 3 {
		t.Errorf("recovered target got %d of 6 requests, want 3", got)
	}
	if st := up.Status(); st[1].Ejected || st[1].Failures != 0 {
		t.Errorf("health after recovery = %+v", st)
	}
}

func testAllEjected(t *testing.T, newEngine func(*testing.T) proxy.Forwarder) {
	g := NewGateway(t, newEngine)
	var failing atomic.Bool
	failing.Store(true)
	a, b := flaky(t, &failing), flaky(t, &failing)
	up := g.Service(func(s *domain.Service) { s.EjectAfter = 1 }, a.URL, b.URL)
	post := func() Record {
		g.Do(g.NewRequest("POST", "/", strings.NewReader("x")))
		return g.Next()
	}
	first := post().Res.Target
	g.Clock.Advance(time.Second)
	second := post().Res.Target
	if first == second {
		t.Fatalf("both requests went to %s", first)
	}
	st := up.Status()
	if !st[0].Ejected || !st[1].Ejected {
		t.Fatalf("health = %+v, want both ejected", st)
	}
	// Both ejected: the gateway still tries one — the least recently
	// ejected — instead of answering 502 blind.
	failing.Store(false)
	rec := post()
	if rec.Err != nil || rec.Res.Target != first {
		t.Fatalf("with every target ejected: %+v, want a try on %s (ejected first)", rec, first)
	}
}

func testRetries(t *testing.T, newEngine func(*testing.T) proxy.Forwarder) {
	cases := []struct {
		desc      string
		method    string
		body      string
		wantRetry bool
	}{
		{"GET goes to the next target", "GET", "", true},
		{"DELETE without body goes to the next target", "DELETE", "", true},
		{"POST is never retried", "POST", "order", false},
		{"PATCH is never retried", "PATCH", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			g := NewGateway(t, newEngine)
			good := NewUpstream(t, OK)
			refused := ClosedURL(t)
			g.Service(func(s *domain.Service) { s.EjectAfter = 100 }, refused, good.URL)
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			// Round-robin starts at the refused target.
			resp, _ := g.Do(g.NewRequest(tc.method, "/", body))
			rec := g.Next()
			if tc.wantRetry {
				if resp.StatusCode != 200 || rec.Res.Attempts != 2 || rec.Res.Target != good.URL {
					t.Fatalf("status %d record %+v, want a retry on %s", resp.StatusCode, rec, good.URL)
				}
			} else {
				if resp.StatusCode != 502 || rec.Res.Attempts != 1 || good.Hits.Load() != 0 {
					t.Fatalf("status %d attempts %d, other target hits %d: a non-idempotent request was retried",
						resp.StatusCode, rec.Res.Attempts, good.Hits.Load())
				}
			}
		})
	}
}

func testLargeBodies(t *testing.T, newEngine func(*testing.T) proxy.Forwarder) {
	const size = 64 << 20
	want := PatternSHA256(size)
	cases := []struct {
		desc    string
		chunked bool
	}{
		{"with Content-Length", false},
		{"chunked", true},
	}
	for _, tc := range cases {
		t.Run("upload "+tc.desc, func(t *testing.T) {
			g := NewGateway(t, newEngine)
			up := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				sum, n, err := sha(r.Body)
				if err != nil {
					http.Error(w, err.Error(), 500)
					return
				}
				fmt.Fprintf(w, "%s %d", sum, n)
			})
			g.Service(nil, up.URL)
			req := g.NewRequest("PUT", "/blob", NewPattern(size))
			if !tc.chunked {
				req.ContentLength = size
			}
			resp, body := g.Do(req)
			if resp.StatusCode != 200 || string(body) != fmt.Sprintf("%s %d", want, size) {
				t.Fatalf("upstream got %q (status %d), want %s %d", body, resp.StatusCode, want, size)
			}
			if rec := g.Next(); rec.Res.BytesIn != size {
				t.Errorf("BytesIn = %d", rec.Res.BytesIn)
			}
		})
		t.Run("download "+tc.desc, func(t *testing.T) {
			g := NewGateway(t, newEngine)
			up := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				if !tc.chunked {
					w.Header().Set("Content-Length", strconv.Itoa(size))
				}
				_, _ = io.Copy(w, NewPattern(size))
			})
			g.Service(nil, up.URL)
			resp, err := g.Client.Do(g.NewRequest("GET", "/blob", nil))
			if err != nil {
				t.Fatal(err)
			}
			sum, n, err := sha(resp.Body)
			resp.Body.Close()
			if err != nil || sum != want || n != size {
				t.Fatalf("client got %d bytes sha %s err %v, want %d %s", n, sum, err, size, want)
			}
			if !tc.chunked && resp.ContentLength != size {
				t.Errorf("Content-Length = %d", resp.ContentLength)
			}
			if rec := g.Next(); rec.Res.BytesOut != size || rec.Res.Err != nil {
				t.Errorf("record = %+v", rec.Res)
			}
		})
	}
}

func testPathAndQuery(t *testing.T, newEngine func(*testing.T) proxy.Forwarder) {
	cases := []struct {
		desc, target, path string
		strip              bool
		upstreamPath       string
		want               string
	}{
		{"passthrough", "", "/api/orders?id=7", false, "", "/api/orders?id=7"},
		{"strip prefix", "", "/api/orders/7?x=1&x=2", true, "", "/orders/7?x=1&x=2"},
		{"strip prefix to root", "", "/api", true, "", "/"},
		{"upstream path", "", "/api/orders", true, "/v2", "/v2/orders"},
		{"target base path", "/base", "/api/orders", true, "/v2", "/base/v2/orders"},
		{"escaped characters stay escaped", "", "/api/a%2Fb/c%20d?q=%26x&y=%E2%82%AC", true, "", "/a%2Fb/c%20d?q=%26x&y=%E2%82%AC"},
		{"api_key removed by the caller, the rest verbatim", "", "/api/x?b=2&api_key=gk_secret&a=1&a=", true, "", "/x?b=2&a=1&a="},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			g := NewGateway(t, newEngine)
			up := NewUpstream(t, OK)
			u := g.Service(nil, up.URL+tc.target)
			g.SetRoute(Route{Upstream: u, Prefix: "/api", Strip: tc.strip, UpstreamPath: tc.upstreamPath,
				Identity: DefaultIdentity(), ClientIP: "203.0.113.7"})
			resp, _ := g.Get(tc.path)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if s := up.Seen(); s.RequestURI != tc.want {
				t.Errorf("upstream request-target = %q, want %q", s.RequestURI, tc.want)
			}
			g.Next()
		})
	}
}

func testMidBody(t *testing.T, newEngine func(*testing.T) proxy.Forwarder) {
	g := NewGateway(t, newEngine)
	up := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first part;")
		http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler) // the upstream dies mid-body
	})
	g.Service(nil, up.URL)
	resp, err := g.Client.Do(g.NewRequest("GET", "/", nil))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil {
		t.Errorf("client saw a clean end of a truncated body %q", b)
	}
	rec := g.Next()
	if rec.Err != nil || rec.Res.Status != 200 || rec.Res.Err == nil {
		t.Errorf("record = %+v, want Result.Err after the response started", rec)
	}
}

// recordingReader reports whether it was ever read.
type recordingReader struct {
	r    io.Reader
	read atomic.Bool
}

func (r *recordingReader) Read(p []byte) (int, error) {
	r.read.Store(true)
	return r.r.Read(p)
}

func testExpectContinue(t *testing.T, newEngine func(*testing.T) proxy.Forwarder) {
	t.Run("upstream accepts: body flows", func(t *testing.T) {
		g := NewGateway(t, newEngine)
		up := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "got %d", len(b))
		})
		g.Service(nil, up.URL)
		req := g.NewRequest("POST", "/", strings.NewReader(strings.Repeat("b", 100_000)), "Expect", "100-continue")
		resp, body := g.Do(req)
		if resp.StatusCode != 200 || string(body) != "got 100000" {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		g.Next()
	})
	t.Run("upstream rejects before the body: the client never sends it", func(t *testing.T) {
		g := NewGateway(t, newEngine)
		up := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "no", http.StatusRequestEntityTooLarge) // without reading the body
		})
		g.Service(nil, up.URL)
		body := &recordingReader{r: strings.NewReader(strings.Repeat("b", 1<<20))}
		req := g.NewRequest("POST", "/", body, "Expect", "100-continue")
		req.ContentLength = 1 << 20
		if FastFront(g.Fwd) {
			// The fast front (fasthttp) answers 100 before any handler
			// runs, so the client starts sending its body (README:
			// departures); the 413 comes first and the connection closes
			// behind it, which the client may see as a reset while it still
			// writes. Either way nothing of the body reaches the upstream.
			resp, err := g.Client.Do(req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusRequestEntityTooLarge {
					t.Fatalf("status %d", resp.StatusCode)
				}
			}
			if s := up.Seen(); !strings.EqualFold(s.Header.Get("Expect"), "100-continue") {
				t.Errorf("upstream Expect = %q", s.Header.Get("Expect"))
			}
			g.Next()
			return
		}
		resp, _ := g.Do(req)
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if body.read.Load() {
			t.Error("the client was asked for its body although the upstream refused it")
		}
		if s := up.Seen(); !strings.EqualFold(s.Header.Get("Expect"), "100-continue") {
			t.Errorf("upstream Expect = %q", s.Header.Get("Expect"))
		}
		g.Next()
	})
}

func testTrailers(t *testing.T, newEngine func(*testing.T) proxy.Forwarder) {
	g := NewGateway(t, newEngine)
	up := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Checksum")
		_, _ = io.WriteString(w, "payload")
		http.NewResponseController(w).Flush()
		w.Header().Set("X-Checksum", "c0ffee")
	})
	g.Service(nil, up.URL)
	resp, body := g.Get("/", "Te", "trailers")
	if string(body) != "payload" {
		t.Fatalf("body %q", body)
	}
	if got := resp.Trailer.Get("X-Checksum"); got != "c0ffee" {
		t.Errorf("trailer X-Checksum = %q (trailers %v)", got, resp.Trailer)
	}
	if s := up.Seen(); s.Header.Get("Te") != "trailers" {
		t.Errorf("upstream Te = %q, want trailers", s.Header.Get("Te"))
	}
	g.Next()
}

// testTrailerAnnouncements: what the client is told of trailers is true.
// A trailer the upstream announced and then did not send (RFC 9110
// §6.6.2: "a sender MAY ... ") is not sent to the client either — not as
// the value of the header field of the same name; and a known-length
// response, which can carry no trailers (RFC 9112 §7.1.2: chunked only),
// announces none.
func testTrailerAnnouncements(t *testing.T, newEngine func(*testing.T) proxy.Forwarder) {
	up := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Checksum", "in-the-header")
		w.Header().Set("Trailer", "X-Checksum")
		if r.URL.Path == "/known-length" {
			w.Header().Set("Content-Length", "7")
			_, _ = io.WriteString(w, "payload")
			return
		}
		_, _ = io.WriteString(w, "pay")
		w.(http.Flusher).Flush()
		_, _ = io.WriteString(w, "load")
		delete(w.Header(), "X-Checksum") // announced, never sent
	})
	t.Run("chunked, the announced trailer not sent", func(t *testing.T) {
		g := NewGateway(t, newEngine)
		g.Service(nil, up.URL)
		resp, body := g.Get("/chunked", "Te", "trailers")
		if string(body) != "payload" || resp.Header.Get("X-Checksum") != "in-the-header" {
			t.Fatalf("body %q, header X-Checksum %q", body, resp.Header.Get("X-Checksum"))
		}
		if got := resp.Trailer.Values("X-Checksum"); len(got) != 0 {
			t.Errorf("trailer X-Checksum = %q: the header field's value went out again as a trailer", got)
		}
		g.Next()
	})
	t.Run("known length", func(t *testing.T) {
		g := NewGateway(t, newEngine)
		g.Service(nil, up.URL)
		resp, body := g.Get("/known-length", "Te", "trailers")
		if string(body) != "payload" || resp.ContentLength != 7 {
			t.Fatalf("body %q, length %d", body, resp.ContentLength)
		}
		if got := resp.Header.Values("Trailer"); len(got) != 0 || len(resp.Trailer) != 0 {
			t.Errorf("a known-length response announces trailers: Trailer %q, trailers %q", got, resp.Trailer)
		}
		g.Next()
	})
}

func testBodiless(t *testing.T, newEngine func(*testing.T) proxy.Forwarder) {
	cases := []struct {
		desc, method string
		status       int
		wantLength   int64
	}{
		{"204", "GET", 204, 0},
		{"304", "GET", 304, 0},
		{"HEAD keeps Content-Length", "HEAD", 200, 1234},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			g := NewGateway(t, newEngine)
			up := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method == "HEAD" {
					w.Header().Set("Content-Length", "1234")
				}
				w.Header().Set("Etag", `"v1"`)
				w.WriteHeader(tc.status)
			})
			g.Service(nil, up.URL)
			resp, body := g.Do(g.NewRequest(tc.method, "/", nil))
			if resp.StatusCode != tc.status || len(body) != 0 || resp.Header.Get("Etag") != `"v1"` {
				t.Errorf("got %d body %q etag %q", resp.StatusCode, body, resp.Header.Get("Etag"))
			}
			if tc.method == "HEAD" && resp.ContentLength != tc.wantLength {
				t.Errorf("HEAD Content-Length = %d, want %d", resp.ContentLength, tc.wantLength)
			}
			if rec := g.Next(); rec.Err != nil || rec.Res.Status != tc.status || rec.Res.BytesOut != 0 {
				t.Errorf("record %+v", rec)
			}
		})
	}
}

// testSmuggling sends request-smuggling probes (RFC 9112 §6.3, §5.2) to
// the gateway's net/http listener. Each is either rejected there — the
// handler never runs and the upstream receives nothing — or normalised by
// it (Transfer-Encoding overrides Content-Length, which is removed;
// obs-fold becomes a space) into requests that each pass through the
// handler, i.e. the whole pipeline, and reach the upstream re-framed, one
// for one. Either way no byte the gateway did not parse as its own request
// reaches the upstream.
func testSmuggling(t *testing.T, newEngine func(*testing.T) proxy.Forwarder) {
	// refused is what the fast front answers where net/http differs: it
	// refuses, with 400, what net/http normalises (Content-Length with
	// Transfer-Encoding) or answers 501 (an unknown transfer coding).
	refused := &frontAnswer{status: []int{400}}
	cases := []struct {
		desc, raw    string
		wantStatus   []int
		wantUpstream []string // what the upstream received, in order
		front        *frontAnswer
	}{
		{"Content-Length and Transfer-Encoding together: TE wins, CL removed, the tail is a request of its own",
			"POST /a HTTP/1.1\r\nHost: gw\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: gw\r\n\r\n",
			[]int{200, 200}, []string{`POST /a ""`, `GET /smuggled ""`}, refused},
		{"two different Content-Lengths",
			"POST /a HTTP/1.1\r\nHost: gw\r\nContent-Length: 4\r\nContent-Length: 40\r\n\r\nabcd", []int{400}, nil, nil},
		{"a list in Content-Length",
			"POST /a HTTP/1.1\r\nHost: gw\r\nContent-Length: 4, 4\r\n\r\nabcd", []int{400}, nil, nil},
		{"signed Content-Length",
			"POST /a HTTP/1.1\r\nHost: gw\r\nContent-Length: +4\r\n\r\nabcd", []int{400}, nil, nil},
		{"obfuscated Transfer-Encoding",
			"POST /a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", []int{501}, nil, refused},
		{"Transfer-Encoding chunked, identity",
			"POST /a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", []int{501}, nil, refused},
		{"Transfer-Encoding twice",
			"POST /a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", []int{501}, nil, refused},
		{"space before the colon",
			"POST /a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding : chunked\r\nContent-Length: 4\r\n\r\nabcd", []int{400}, nil, nil},
		{"obs-fold hiding a Transfer-Encoding: folded into the previous value",
			"POST /a HTTP/1.1\r\nHost: gw\r\nContent-Length: 4\r\nX-A: b\r\n Transfer-Encoding: chunked\r\n\r\nabcd",
			[]int{200}, []string{`POST /a "abcd"`}, nil},
		{"control: a well-formed chunked request",
			"POST /a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n",
			[]int{200}, []string{`POST /a "abcd"`}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			g := NewGateway(t, newEngine)
			got := make(chan string, 8)
			up := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				s := fmt.Sprintf("%s %s %q", r.Method, r.URL.Path, b)
				got <- s
				io.WriteString(w, s)
			})
			g.Service(nil, up.URL)
			if tc.front != nil && FastFront(g.Fwd) {
				tc.wantStatus, tc.wantUpstream = tc.front.status, tc.front.upstream
			}
			statuses := RawExchangeN(t, g.Server.Listener.Addr().String(), tc.raw, len(tc.wantStatus))
			if !slices.Equal(statuses, tc.wantStatus) {
				t.Fatalf("statuses %v, want %v", statuses, tc.wantStatus)
			}
			for i, want := range tc.wantUpstream {
				g.Next() // the handler (the pipeline) ran for each request
				select {
				case s := <-got:
					if s != want {
						t.Errorf("upstream request %d = %s, want %s", i, s, want)
					}
				case <-time.After(guard):
					t.Fatalf("upstream request %d never arrived", i)
				}
			}
			if n := up.Hits.Load(); n != int64(len(tc.wantUpstream)) {
				t.Errorf("the upstream received %d request(s), want %d", n, len(tc.wantUpstream))
			}
			select {
			case rec := <-g.recs:
				t.Errorf("the gateway handler ran for a rejected probe: %+v", rec)
			default:
			}
		})
	}
}

// frontAnswer is what the fast front answers a probe where it differs
// from net/http.
type frontAnswer struct {
	status   []int
	upstream []string
}

// testTraceContext: the upstream receives exactly the W3C Trace Context
// the Outbound names. With Outbound.Traceparent set (tracing on) every
// inbound traceparent/tracestate is replaced, whatever its spelling, count
// or Connection listing; with it empty (tracing off) the client's fields
// pass through unchanged, so the gateway is transparent to a trace it
// does not take part in. Raw requests keep the inbound bytes exact.
func testTraceContext(t *testing.T, newEngine func(*testing.T) proxy.Forwarder) {
	const (
		clientTP  = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
		clientTP2 = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
		clientTS  = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
		gwTP      = "00-0af7651916cd43dd8448eb211c80319c-53995c3f42cd8ad8-01"
		gwTS      = "gh=1,congo=t61rcWkgMzE"
	)
	cases := []struct {
		desc           string
		inbound        string // raw header lines, each ending in CRLF
		outTP, outTS   string // Outbound.Traceparent, Outbound.Tracestate
		wantTP, wantTS []string
	}{
		{"tracing off: the client's fields pass through unchanged",
			"traceparent: " + clientTP + "\r\ntracestate: " + clientTS + "\r\n", "", "",
			[]string{clientTP}, []string{clientTS}},
		{"tracing off: repeated client fields pass through in order",
			"Traceparent: " + clientTP + "\r\nTraceparent: " + clientTP2 + "\r\n", "", "",
			[]string{clientTP, clientTP2}, nil},
		{"tracing off, nothing inbound: nothing sent",
			"", "", "", nil, nil},
		{"tracing off: a lone Outbound tracestate is ignored",
			"tracestate: " + clientTS + "\r\n", "", gwTS,
			nil, []string{clientTS}},
		{"tracing on: the client's fields are replaced by the gateway's",
			"traceparent: " + clientTP + "\r\ntracestate: " + clientTS + "\r\n", gwTP, gwTS,
			[]string{gwTP}, []string{gwTS}},
		{"tracing on, nothing inbound: the gateway's fields are sent",
			"", gwTP, gwTS, []string{gwTP}, []string{gwTS}},
		{"tracing on without tracestate: the client's tracestate is removed",
			"Tracestate: " + clientTS + "\r\n", gwTP, "",
			[]string{gwTP}, nil},
		{"tracing on: repeated fields in any case collapse to the gateway's one",
			"TRACEPARENT: " + clientTP + "\r\ntraceparent: " + clientTP2 + "\r\nTraceState: a=1\r\ntracestate: b=2\r\n", gwTP, gwTS,
			[]string{gwTP}, []string{gwTS}},
		{"tracing on: a Connection header naming them cannot strip the gateway's",
			"Connection: keep-alive, traceparent, Tracestate\r\ntraceparent: " + clientTP + "\r\n", gwTP, gwTS,
			[]string{gwTP}, []string{gwTS}},
		{"tracing off: fields the client's Connection header names are hop-by-hop",
			"Connection: traceparent\r\ntraceparent: " + clientTP + "\r\ntracestate: " + clientTS + "\r\n", "", "",
			nil, []string{clientTS}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			g := NewGateway(t, newEngine)
			up := NewUpstream(t, OK)
			g.Service(nil, up.URL)
			g.mu.Lock()
			g.route.Traceparent, g.route.Tracestate = tc.outTP, tc.outTS
			g.mu.Unlock()
			raw := "GET /traced HTTP/1.1\r\nHost: gw\r\n" + tc.inbound + "X-Kept: kept\r\n\r\n"
			resp, _ := RawExchange(t, g.Server.Listener.Addr().String(), raw)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			s := up.Seen()
			if got := s.Header.Values("Traceparent"); !slices.Equal(got, tc.wantTP) {
				t.Errorf("upstream traceparent = %q, want %q", got, tc.wantTP)
			}
			if got := s.Header.Values("Tracestate"); !slices.Equal(got, tc.wantTS) {
				t.Errorf("upstream tracestate = %q, want %q", got, tc.wantTS)
			}
			for k := range s.Header {
				if k != "Traceparent" && k != "Tracestate" && isTraceName(k) {
					t.Errorf("upstream got a second spelling %s: %q", k, s.Header[k])
				}
			}
			if got := s.Header.Get("X-Kept"); got != "kept" {
				t.Errorf("X-Kept = %q: an ordinary header was lost", got)
			}
			if rec := g.Next(); rec.Err != nil || rec.Res.Status != 200 {
				t.Errorf("record = %+v", rec)
			}
		})
	}
}

func isTraceName(k string) bool {
	return strings.EqualFold(k, "traceparent") || strings.EqualFold(k, "tracestate")
}

// testOwnCORS: on a route whose CORS the gateway answers, the upstream's
// Access-Control-* fields (in any spelling) never reach the client next to
// the gateway's — a browser refuses two Allow-Origin values — and Vary
// keeps the gateway's Origin with the upstream's values added.
func testOwnCORS(t *testing.T, newEngine func(*testing.T) proxy.Forwarder) {
	const upstreamCORS = "access-control-allow-origin: *\r\n" +
		"Access-Control-Allow-Credentials: true\r\n" +
		"ACCESS-CONTROL-EXPOSE-HEADERS: X-Secret\r\n" +
		"Vary: Accept-Encoding\r\n" +
		"X-Public: yes\r\n"
	gateway := http.Header{"Access-Control-Allow-Origin": {"https://app.example.com"}, "Vary": {"Origin"},
		"Access-Control-Expose-Headers": {"X-Request-Id"}}
	cases := []struct {
		desc     string
		own      bool
		status   string
		wantACAO []string
		wantACAC []string
		wantACEH []string
		wantVary []string
	}{
		{"gateway owns CORS: only its fields, Vary merged", true, "200 OK",
			[]string{"https://app.example.com"}, nil, []string{"X-Request-Id"}, []string{"Origin", "Accept-Encoding"}},
		{"gateway owns CORS on a bodiless answer", true, "204 No Content",
			[]string{"https://app.example.com"}, nil, []string{"X-Request-Id"}, []string{"Origin", "Accept-Encoding"}},
		{"route without CORS: the upstream's fields pass through", false, "200 OK",
			[]string{"*"}, []string{"true"}, []string{"X-Secret"}, []string{"Accept-Encoding"}},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			g := NewGateway(t, newEngine)
			body := "Content-Length: 2\r\n\r\nok"
			if tc.status == "204 No Content" {
				body = "\r\n"
			}
			raw := NewRawUpstream(t, "HTTP/1.1 "+tc.status+"\r\n"+upstreamCORS+body)
			up := g.Service(nil, raw.URL)
			rt := Route{Upstream: up, Identity: DefaultIdentity(), ClientIP: "203.0.113.7", OwnCORS: tc.own}
			if tc.own {
				rt.ResponseHeaders = gateway
			}
			g.SetRoute(rt)
			resp, _ := g.Get("/", "Origin", "https://app.example.com")
			if got := resp.Header.Get("X-Public"); got != "yes" {
				t.Errorf("X-Public = %q: an ordinary field was lost", got)
			}
			for k, want := range map[string][]string{"Access-Control-Allow-Origin": tc.wantACAO,
				"Access-Control-Allow-Credentials": tc.wantACAC, "Access-Control-Expose-Headers": tc.wantACEH} {
				if got := resp.Header.Values(k); !slices.Equal(got, want) {
					t.Errorf("client %s = %q, want %q", k, got, want)
				}
			}
			if got := resp.Header.Values("Vary"); !slices.Equal(got, tc.wantVary) {
				t.Errorf("client Vary = %q, want %q", got, tc.wantVary)
			}
			if got := gateway["Vary"]; !slices.Equal(got, []string{"Origin"}) {
				t.Errorf("the gateway's shared Vary slice was modified: %q", got)
			}
			g.Next()
		})
	}
}

// testUpstreamRequestID: the client always receives the gateway's request
// ID (the pipeline sets it before Forward) and only that one — it opens
// the decision trace (gatehouse explain) — whatever X-Request-Id the
// upstream answers with, in any spelling and on every way a response is
// relayed (read whole, streamed, large, bodiless).
func testUpstreamRequestID(t *testing.T, newEngine func(*testing.T) proxy.Forwarder) {
	const gatewayID = "01JD3V0000000000000000TEST"
	large := strings.Repeat("x", 20000)
	cases := []struct {
		desc, head, body string // head: the fields after the status line
	}{
		{"small body, read whole", "Content-Length: 2\r\nX-Request-Id: upstream-id\r\n", "ok"},
		{"lower-case name", "Content-Length: 2\r\nx-request-id: upstream-id\r\n", "ok"},
		{"two fields, one upper case", "Content-Length: 2\r\nX-REQUEST-ID: upstream-a\r\nX-Request-Id: upstream-b\r\n", "ok"},
		{"streamed chunked body", "Transfer-Encoding: chunked\r\nX-Request-Id: upstream-id\r\n", "2\r\nok\r\n0\r\n\r\n"},
		{"large known-length body", "Content-Length: 20000\r\nX-Request-Id: upstream-id\r\n", large},
		{"bodiless answer", "X-Request-Id: upstream-id\r\n", ""},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			g := NewGateway(t, newEngine)
			status := "200 OK"
			if tc.body == "" {
				status = "204 No Content"
			}
			raw := NewRawUpstream(t, "HTTP/1.1 "+status+"\r\n"+tc.head+"X-Upstream: yes\r\n\r\n"+tc.body)
			up := g.Service(nil, raw.URL)
			g.SetRoute(Route{Upstream: up, Identity: DefaultIdentity(), ClientIP: "203.0.113.7",
				ResponseHeaders: http.Header{"X-Request-Id": {gatewayID}}})
			resp, _ := g.Get("/")
			if got := resp.Header.Values("X-Request-Id"); !slices.Equal(got, []string{gatewayID}) {
				t.Errorf("client X-Request-Id = %q, want only the gateway's [%q]", got, gatewayID)
			}
			if got := resp.Header.Get("X-Upstream"); got != "yes" {
				t.Errorf("X-Upstream = %q: an ordinary field was lost", got)
			}
			g.Next()
		})
	}
}

// testGatewayResponseFields: the response fields the gateway answers for
// reach the client from the gateway only, whatever the upstream sends and
// however the response is relayed (read whole — on the fast front into
// proxy.FastResponder —, large, chunked, an SSE stream, bodiless). The
// upstream sends every field of the gateway's namespace in mixed case,
// with '_' for '-', repeated, and under the exact names the gateway uses
// (which a copy after the gateway set its own would overwrite):
//
//   - Gatehouse-* never passes: with a rotated or expiring key the client
//     sees the gateway's notice alone, with an ordinary key none at all —
//     an upstream cannot tell a caller its key was rotated.
//   - RateLimit and RateLimit-Policy: on a rate-limited route the
//     gateway's replace the upstream's; on a route without a limit the
//     upstream's pass through unchanged.
//   - Retry-After (the gateway sets it only on its own rejections) and
//     ordinary fields pass through in every case.
func testGatewayResponseFields(t *testing.T, newEngine func(*testing.T) proxy.Forwarder) {
	const (
		rotated     = `successor="k2Successor01"; grace-until="2026-11-21T10:00:00Z"`
		expires     = "2026-12-03T10:00:00Z"
		policy      = `"route";q=100;w=60`
		limit       = `"route";r=99;t=1`
		upLimit0    = `"upstream";r=0;t=60`
		upLimit1    = `"upstream";r=1;t=60`
		upPolicy    = `"upstream";q=10;w=60`
		upPolicyCGI = `"upstream-cgi";q=10;w=60`
	)
	// The upstream's fields, names exactly as sent.
	spoof := [][2]string{
		{"Gatehouse-Credential-Rotated", `successor="upstream"; grace-until="2000-01-01T00:00:00Z"`},
		{"gatehouse-credential-rotated", `successor="lower-case"`},
		{"GATEHOUSE-CREDENTIAL-EXPIRES", "2000-01-01T00:00:00Z"},
		{"Gatehouse_Credential_Expires", "2000-01-02T00:00:00Z"},
		{"Gatehouse-Credential-Expires", "2000-01-03T00:00:00Z"},
		{"Gatehouse-Debug", "upstream"},
		{"Ratelimit", upLimit0},
		{"RateLimit", upLimit1},
		{"RateLimit", upLimit1},
		{"ratelimit-policy", upPolicy},
		{"RateLimit_Policy", upPolicyCGI},
		{"Retry-After", "30"},
		{"X-Upstream", "yes"},
	}
	up := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/trailers-only" {
			for _, f := range spoof {
				w.Header()[f[0]] = append(w.Header()[f[0]], f[1])
			}
		}
		switch r.URL.Path {
		case "/trailers", "/trailers-only":
			// Announced trailers, then undeclared ones (TrailerPrefix).
			w.Header().Set("Trailer", "Gatehouse-Debug, RateLimit, X-Checksum, X-Request-Id")
			_, _ = io.WriteString(w, "o")
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "k")
			for _, f := range spoof { // sent with the header: not trailers
				delete(w.Header(), f[0])
			}
			w.Header().Set("Gatehouse-Debug", "upstream-trailer")
			w.Header().Set("RateLimit", upLimit1)
			w.Header().Set("X-Checksum", "c0ffee")
			w.Header().Set("X-Request-Id", "upstream-trailer")
			w.Header().Set(http.TrailerPrefix+"gatehouse-credential-expires", "2000-01-04T00:00:00Z")
			w.Header().Set(http.TrailerPrefix+"ratelimit-policy", upPolicy)
			w.Header().Set(http.TrailerPrefix+"X-Late", "late")
		case "/small":
			_, _ = io.WriteString(w, "ok")
		case "/large":
			w.Header().Set("Content-Length", "20000")
			_, _ = io.WriteString(w, strings.Repeat("x", 20000))
		case "/chunked":
			_, _ = io.WriteString(w, "o")
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "k")
		case "/sse":
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "data: ok\n\n")
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		}
	})
	// What an upstream's RateLimit fields look like to the client when
	// they pass: the Go client merges the spellings that canonicalise
	// alike; the CGI spelling stays a field of its own.
	upstreamLimits := map[string][]string{
		"Ratelimit":        {upLimit0, upLimit1, upLimit1},
		"Ratelimit-Policy": {upPolicy},
		"Ratelimit_policy": {upPolicyCGI},
	}
	states := []struct {
		desc    string
		gateway http.Header // set before Forward, as the pipeline does
		want    map[string][]string
	}{
		{"rotated and expiring key, rate-limited route: only the gateway's fields",
			http.Header{"Gatehouse-Credential-Rotated": {rotated}, "Gatehouse-Credential-Expires": {expires},
				"Ratelimit-Policy": {policy}, "Ratelimit": {limit}},
			map[string][]string{"Gatehouse-Credential-Rotated": {rotated}, "Gatehouse-Credential-Expires": {expires},
				"Ratelimit-Policy": {policy}, "Ratelimit": {limit}}},
		{"expiring key, rate-limited route: the gateway's notice and limit",
			http.Header{"Gatehouse-Credential-Expires": {expires}, "Ratelimit-Policy": {policy}, "Ratelimit": {limit}},
			map[string][]string{"Gatehouse-Credential-Expires": {expires}, "Ratelimit-Policy": {policy}, "Ratelimit": {limit}}},
		{"rotated key, route without a limit: the gateway's notice, the upstream's limit",
			http.Header{"Gatehouse-Credential-Rotated": {rotated}},
			merged(map[string][]string{"Gatehouse-Credential-Rotated": {rotated}}, upstreamLimits)},
		{"ordinary key, route without a limit: no Gatehouse field, the upstream's limit",
			nil, upstreamLimits},
	}
	shapes := []struct{ desc, path string }{
		{"small body, read whole", "/small"},
		{"large known-length body", "/large"},
		{"chunked body", "/chunked"},
		{"SSE stream", "/sse"},
		{"bodiless answer", "/empty"},
		{"chunked body with trailers", "/trailers"},
		{"chunked body with trailers, no field in the header", "/trailers-only"},
	}
	for _, st := range states {
		for _, sh := range shapes {
			t.Run(st.desc+", "+sh.desc, func(t *testing.T) {
				g := NewGateway(t, newEngine)
				ups := g.Service(nil, up.URL)
				gw := http.Header{"X-Request-Id": {DefaultIdentity().RequestID}}
				for k, v := range st.gateway {
					gw[k] = v
				}
				g.SetRoute(Route{Upstream: ups, Identity: DefaultIdentity(), ClientIP: "203.0.113.7", ResponseHeaders: gw})
				resp, body := g.Get(sh.path, "Te", "trailers")
				want := st.want
				if sh.path == "/trailers-only" {
					want = gatewayNamespace(st.gateway)
				}
				if got := gatewayNamespace(resp.Header); !maps.EqualFunc(got, want, slices.Equal) {
					t.Errorf("client's Gatehouse-* and RateLimit fields:\n got %q\nwant %q", got, want)
				}
				if sh.path != "/trailers-only" {
					if got := resp.Header.Values("Retry-After"); !slices.Equal(got, []string{"30"}) {
						t.Errorf("Retry-After = %q, want the upstream's [30]", got)
					}
					if got := resp.Header.Values("X-Upstream"); !slices.Equal(got, []string{"yes"}) {
						t.Errorf("X-Upstream = %q: an ordinary field was lost", got)
					}
				}
				if strings.HasPrefix(sh.path, "/trailers") {
					// The rule holds for trailers: the client is neither
					// told of nor given the fields the gateway answers for
					// (an announced name the client never gets would show
					// here with no value).
					wantTr := map[string][]string{}
					if st.gateway["Ratelimit"] == nil {
						wantTr = map[string][]string{"Ratelimit": {upLimit1}, "Ratelimit-Policy": {upPolicy}}
					}
					if string(body) != "ok" {
						t.Errorf("body %q", body)
					}
					if got := gatewayNamespace(resp.Trailer); !maps.EqualFunc(got, wantTr, slices.Equal) {
						t.Errorf("client's Gatehouse-* and RateLimit trailers:\n got %q\nwant %q", got, wantTr)
					}
					if got := resp.Trailer.Values("X-Request-Id"); got != nil {
						t.Errorf("X-Request-Id trailer %q: the upstream's request ID reached the client", got)
					}
					if resp.Trailer.Get("X-Checksum") != "c0ffee" || resp.Trailer.Get("X-Late") != "late" {
						t.Errorf("trailers %q: an ordinary trailer was lost", resp.Trailer)
					}
				}
				if rec := g.Next(); rec.Err != nil || rec.Res.Err != nil {
					t.Errorf("forward: %v, %v", rec.Err, rec.Res.Err)
				}
			})
		}
	}
}

// gatewayNamespace returns the client's fields named Gatehouse-*,
// RateLimit or RateLimit-Policy in any case or with '_' for '-', under
// the names the Go client gave them, each field's values sorted (a
// listener may write two spellings of one name in either order).
func gatewayNamespace(h http.Header) map[string][]string {
	out := map[string][]string{}
	for k, vv := range h {
		n := strings.ReplaceAll(strings.ToLower(k), "_", "-")
		if strings.HasPrefix(n, "gatehouse-") || n == "ratelimit" || n == "ratelimit-policy" {
			out[k] = slices.Sorted(slices.Values(vv))
		}
	}
	return out
}

// merged is the union of field maps with disjoint names.
func merged(ms ...map[string][]string) map[string][]string {
	out := map[string][]string{}
	for _, m := range ms {
		maps.Copy(out, m)
	}
	return out
}

// testMalformedBody: a request body whose chunked framing is broken (RFC
// 9112 §7.1) is the client's error, answered 400 request.malformed with a
// detail naming the problem (RFC 9110 §15.5.1) — not upstream.unavailable,
// whose "could not reach the service" would send the caller and the
// operator after the wrong party. It does not count against the target's
// health (one counted failure would eject it here), and the connection is
// closed after the answer: where the next request would start is unknown,
// so the rest of the bytes must not be read as one.
func testMalformedBody(t *testing.T, newEngine func(*testing.T) proxy.Forwarder) {
	cases := []struct {
		desc, body string
	}{
		{"chunk size with a 0x prefix", "0x5\r\nhello\r\n0\r\n\r\n"},
		{"chunk size not hexadecimal", "zz\r\nhello\r\n0\r\n\r\n"},
		{"negative chunk size", "-5\r\nhello\r\n0\r\n\r\n"},
		{"chunk size over 64 bits", "FFFFFFFFFFFFFFFFF5\r\nhello\r\n0\r\n\r\n"},
		{"more data than the chunk declares", "5\r\nhello world\r\n0\r\n\r\n"},
		{"chunk lines ended by LF alone", "5\nhello\n0\n\n"},
		// A decoder error that comes with the chunk's data must end the
		// body: read on, the next chunk parses and the body is forwarded.
		{"a stray byte between two chunks", "5\r\nhelloX5\r\nworld\r\n0\r\n\r\n"},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			g := NewGateway(t, newEngine)
			up := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				b, err := io.ReadAll(r.Body)
				if err != nil {
					return // the gateway cut the request short
				}
				_, _ = fmt.Fprintf(w, "%s %q", r.Method, b)
			})
			ups := g.Service(func(s *domain.Service) {
				s.EjectAfter = 1
				s.EjectFor = domain.Duration(time.Hour)
			}, up.URL)
			raw := "POST /echo HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer K\r\nTransfer-Encoding: chunked\r\n\r\n" + tc.body
			resp, body, after := RawExchangeThenEnd(t, g.Server.Listener.Addr().String(), raw)
			if resp.StatusCode != 400 || !strings.Contains(body, `"code":"request.malformed"`) {
				t.Errorf("answer %d %s, want 400 request.malformed", resp.StatusCode, body)
			}
			if !strings.Contains(body, "chunk") {
				t.Errorf("the detail does not name the problem: %s", body)
			}
			if resp.Header.Get("Www-Authenticate") != "" || resp.Header.Get("X-Request-Id") == "" {
				t.Errorf("WWW-Authenticate %q, X-Request-Id %q", resp.Header.Get("Www-Authenticate"), resp.Header.Get("X-Request-Id"))
			}
			if after != "" {
				t.Errorf("the gateway read on after the malformed body and answered %q", after)
			}
			rec := g.Next()
			if re := rec.Reason(); re == nil || re.Code != reason.RequestMalformed || rec.Res.Status != 0 {
				t.Errorf("Forward = %v, %+v; want %s before any response", rec.Err, rec.Res, reason.RequestMalformed)
			}
			if st := ups.Status(); st[0].Failures != 0 || st[0].Ejected {
				t.Errorf("the client's malformed body counted against the target: %+v", st)
			}
			// The target stays in rotation.
			resp2, body2 := g.Do(g.NewRequest("POST", "/echo", strings.NewReader("hello")))
			if resp2.StatusCode != 200 || string(body2) != `POST "hello"` {
				t.Errorf("next request: %d %s", resp2.StatusCode, body2)
			}
			g.Next()
		})
	}
}

// testBodyOverMaxBody: a body that turns out longer than the route's
// max_body only while it is forwarded (chunked, so its length was not
// declared) is the client's error too: 413 request.too_large naming the
// limit, not upstream.unavailable, and no health penalty for the target.
func testBodyOverMaxBody(t *testing.T, newEngine func(*testing.T) proxy.Forwarder) {
	cases := []struct {
		desc   string
		chunks int // chunks of 8 bytes
		want   int
	}{
		{"chunked body over the limit", 4, 413},
		{"control: chunked body within the limit", 2, 200},
	}
	for _, tc := range cases {
		t.Run(tc.desc, func(t *testing.T) {
			g := NewGateway(t, newEngine)
			up := NewUpstream(t, func(w http.ResponseWriter, r *http.Request) {
				b, err := io.ReadAll(r.Body)
				if err != nil {
					return // the gateway cut the request short
				}
				_, _ = fmt.Fprintf(w, "%d", len(b))
			})
			ups := g.Service(func(s *domain.Service) {
				s.EjectAfter = 1
				s.EjectFor = domain.Duration(time.Hour)
			}, up.URL)
			g.SetRoute(Route{Upstream: ups, Identity: DefaultIdentity(), ClientIP: "203.0.113.7", MaxBody: 20})
			raw := "POST /upload HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n" +
				strings.Repeat("8\r\n01234567\r\n", tc.chunks) + "0\r\n\r\n"
			resp, body := RawExchange(t, g.Server.Listener.Addr().String(), raw)
			rec := g.Next()
			if tc.want == 200 {
				if resp.StatusCode != 200 || body != strconv.Itoa(8*tc.chunks) {
					t.Fatalf("answer %d %s", resp.StatusCode, body)
				}
				return
			}
			if resp.StatusCode != 413 || !strings.Contains(body, `"code":"request.too_large"`) || !strings.Contains(body, "at most 20") {
				t.Errorf("answer %d %s, want 413 request.too_large naming the limit", resp.StatusCode, body)
			}
			if re := rec.Reason(); re == nil || re.Code != reason.RequestTooLarge || rec.Res.Status != 0 {
				t.Errorf("Forward = %v, %+v; want %s before any response", rec.Err, rec.Res, reason.RequestTooLarge)
			}
			if st := ups.Status(); st[0].Failures != 0 || st[0].Ejected {
				t.Errorf("the client's body counted against the target: %+v", st)
			}
		})
	}
}
