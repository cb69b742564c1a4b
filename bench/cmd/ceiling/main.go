// Command ceiling is the fastest forwarding proxy a Go gateway could be on
// each HTTP/1.1 server: one constant-time check of "Authorization: Bearer
// $CEILING_KEY", then the request goes upstream through fasthttp's pooled
// HostClient — no routing, no credential lookup, no identity headers, no
// call log. It measures the listener's own cost, the budget everything
// else a gateway does must fit in (bench/README "Listener").
//
//	-server net/http   net/http's server, headers copied into a fasthttp request
//	-server fasthttp   fasthttp's server, the request passed to HostClient as it came
//
// Usage: CEILING_KEY=k ceiling -addr 127.0.0.1:9000 -upstream 127.0.0.1:8080 -server fasthttp
package main

import (
	"crypto/subtle"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"

	"github.com/valyala/fasthttp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	up := flag.String("upstream", "127.0.0.1:8080", "upstream host:port")
	server := flag.String("server", "fasthttp", "net/http or fasthttp")
	flag.Parse()
	key := []byte("Bearer " + os.Getenv("CEILING_KEY"))
	hc := &fasthttp.HostClient{Addr: *up, MaxConns: 512}
	switch *server {
	case "fasthttp":
		log.Fatal(fasthttp.ListenAndServe(*addr, func(ctx *fasthttp.RequestCtx) {
			if subtle.ConstantTimeCompare(ctx.Request.Header.Peek("Authorization"), key) != 1 {
				ctx.SetStatusCode(http.StatusUnauthorized)
				return
			}
			ctx.Request.Header.Del("Authorization")
			if err := hc.Do(&ctx.Request, &ctx.Response); err != nil {
				ctx.SetStatusCode(http.StatusBadGateway)
			}
		}))
	case "net/http":
		log.Fatal(http.ListenAndServe(*addr, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), key) != 1 {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI(r.URL.RequestURI())
			req.Header.SetMethod(r.Method)
			req.SetHost(*up)
			for k, vs := range r.Header {
				if k == "Authorization" || k == "Connection" {
					continue
				}
				for _, v := range vs {
					req.Header.Add(k, v)
				}
			}
			if err := hc.Do(req, resp); err != nil {
				w.WriteHeader(http.StatusBadGateway)
				return
			}
			h := w.Header()
			for k, v := range resp.Header.All() {
				h.Add(string(k), string(v))
			}
			w.WriteHeader(resp.StatusCode())
			_, _ = w.Write(resp.Body())
		})))
	default:
		fmt.Fprintf(os.Stderr, "-server %q: use net/http or fasthttp\n", *server)
		os.Exit(2)
	}
}
