package pipeline

import (
	"net/http"
	"strings"

	"gatehouse/internal/identity"
	"gatehouse/internal/reason"
)

// pages holds the error pages, rendered once from the catalogue.
type pages struct {
	byCode map[string][]byte
	index  []byte
}

func newPages() *pages {
	p := &pages{byCode: map[string][]byte{}, index: reason.IndexPage()}
	for f, b := range reason.FamilyPages() {
		if _, taken := p.byCode[f]; !taken {
			p.byCode[f] = b
		}
	}
	for _, e := range reason.All() {
		b, _ := reason.Page(e.Code)
		p.byCode[e.Code] = b
	}
	return p
}

// wellKnown serves /.well-known/gatehouse/…: the error page of every code
// (the `type` link of every rejection resolves here), whoami, and the JWKS
// of the identity tokens.
func (p *Pipeline) wellKnown(w http.ResponseWriter, r *http.Request, id string) {
	if r.URL.Path == WhoamiPath {
		p.whoami(w, r, id)
		return
	}
	if r.URL.Path == identity.JWKSPath && p.o.Identity != nil {
		p.o.Identity.ServeHTTP(w, r)
		return
	}
	rest := strings.TrimPrefix(r.URL.Path, wellKnownGH)
	if code, ok := strings.CutPrefix(rest, "errors/"); ok {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		body := p.pages.index
		if code != "" {
			b, ok := p.pages.byCode[code]
			if !ok {
				w.Header().Set("Content-Type", "text/plain; charset=utf-8")
				w.WriteHeader(http.StatusNotFound)
				_, _ = w.Write([]byte("no such reason code: see " + reason.ErrorsPath + "\n"))
				return
			}
			body = b
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		_, _ = w.Write(body)
		return
	}
	(&reason.Error{Code: reason.RouteNotFound, Detail: "No such Gatehouse endpoint: " + r.URL.Path}).
		Write(w, reason.Render{RequestID: id, Instance: r.URL.Path, BaseURL: p.baseURL(r)})
}
