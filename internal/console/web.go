package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"gatehouse/internal/domain"
	"gatehouse/internal/reason"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// contentSecurityPolicy allows only the console's own files: no inline
// script, no eval, no inline style elements, no framing. A template that
// failed to escape something still could not run it.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// securityHeaders sets the headers every console and portal answer carries.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}

// assets serves the embedded static files under a prefix, with long
// caching: every URL the templates emit carries the file's content hash.
type assets struct {
	prefix  string // "/console/static/"
	sub     fs.FS
	version map[string]string // file → first 12 hex chars of its sha256
	files   http.Handler
}

func newAssets(prefix string) (*assets, error) {
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, fmt.Errorf("console: static files: %w", err)
	}
	a := &assets{prefix: prefix, sub: sub, version: map[string]string{}}
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(sub, p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		a.version[p] = hex.EncodeToString(sum[:6])
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("console: hashing static files: %w", err)
	}
	a.files = http.StripPrefix(strings.TrimSuffix(prefix, "/"), http.FileServerFS(sub))
	return a, nil
}

// url is the cache-busting address of a static file.
func (a *assets) url(name string) string {
	return a.prefix + name + "?v=" + a.version[name]
}

func (a *assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, a.prefix)
	if _, ok := a.version[name]; !ok || strings.HasSuffix(r.URL.Path, "/") {
		http.NotFound(w, r)
		return
	}
	if r.URL.Query().Get("v") == a.version[name] {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	a.files.ServeHTTP(w, r)
}

// renderer holds one parsed template set per page: the layout, the shared
// partials and the page's own file.
type renderer struct {
	pages map[string]*template.Template
	log   *slog.Logger
}

func newRenderer(layout string, funcs template.FuncMap, pages ...string) (*renderer, error) {
	r := &renderer{pages: map[string]*template.Template{}}
	for _, p := range pages {
		t, err := template.New(p).Funcs(funcs).ParseFS(templateFS, "templates/"+layout, "templates/partials.html", "templates/"+p+".html")
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", p, err)
		}
		r.pages[p] = t
	}
	return r, nil
}

// render executes the page's "layout" (or the named block for an htmx
// partial) into a buffer first, so a template failure is a clean 500
// rather than half a page.
func (r *renderer) render(w http.ResponseWriter, status int, page, block string, data any) {
	t, ok := r.pages[page]
	if !ok {
		r.log.Error("console: no such page template", "page", page)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if block == "" {
		block = "layout"
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, block, data); err != nil {
		r.log.Error("console: rendering a page", "page", page, "block", block, "err", err)
		http.Error(w, "internal error while rendering the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// templateFuncs are the helpers every template may use.
// errBase is where reason-code pages are linked: the console serves its
// own copy, the portal links the proxy listener's /.well-known pages.
func templateFuncs(a *assets, base, errBase string) template.FuncMap {
	return template.FuncMap{
		"asset": a.url,
		// link joins the mount base with escaped path segments.
		"link": func(segs ...string) string {
			var b strings.Builder
			b.WriteString(base)
			for _, s := range segs {
				b.WriteByte('/')
				b.WriteString(url.PathEscape(s))
			}
			return b.String()
		},
		"time":    fmtTime,
		"join":    func(s []string, sep string) string { return strings.Join(s, sep) },
		"mark":    outcomeMark,
		"title":   reasonTitle,
		"hint":    reasonHint,
		"pretty":  prettyJSON,
		"micros":  fmtMicros,
		"class":   statusClass,
		"lower":   strings.ToLower,
		"hasPref": strings.HasPrefix,
		"errDoc":  func(code string) string { return errBase + url.PathEscape(code) },
		"pct":     func(f float64) float64 { return 100 * f },
		"list":    func(s ...string) []string { return s },
		"dict": func(kv ...any) map[string]any {
			m := make(map[string]any, len(kv)/2)
			for i := 0; i+1 < len(kv); i += 2 {
				k, _ := kv[i].(string)
				m[k] = kv[i+1]
			}
			return m
		},
		// jsonAttr encodes chart data for a data- attribute, which
		// html/template escapes like any attribute value (htmx drops
		// <script> elements from fragments, so data travels this way).
		"jsonAttr": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
	}
}

func fmtTime(v any) string {
	switch t := v.(type) {
	case time.Time:
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	case *time.Time:
		if t == nil || t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	}
	return ""
}

func outcomeMark(outcome string) string {
	switch outcome {
	case domain.OutcomePass:
		return "✓"
	case domain.OutcomeFail:
		return "✗"
	}
	return "–"
}

func reasonTitle(code string) string {
	if e, ok := reason.Lookup(code); ok {
		return e.Title
	}
	return ""
}

func reasonHint(code string) string {
	if e, ok := reason.Lookup(code); ok {
		return e.Hint
	}
	return ""
}

// prettyJSON indents a JSON value for people, without the \u003c-style
// escapes json.Marshal put in (html/template escapes the text itself).
func prettyJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&v) != nil {
		return string(raw)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if enc.Encode(v) != nil {
		return string(raw)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func fmtMicros(us int64) string {
	switch {
	case us <= 0:
		return "0"
	case us < 1000:
		return fmt.Sprintf("%d µs", us)
	case us < 1_000_000:
		return fmt.Sprintf("%.1f ms", float64(us)/1000)
	}
	return fmt.Sprintf("%.2f s", float64(us)/1e6)
}

func statusClass(status int) string {
	switch {
	case status >= 500:
		return "s5"
	case status >= 400:
		return "s4"
	case status >= 300:
		return "s3"
	}
	return "s2"
}

// formList splits a comma- or newline-separated form field into trimmed,
// non-empty items.
func formList(s string) []string {
	f := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' })
	out := make([]string, 0, len(f))
	for _, x := range f {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// cleanPath keeps a user-supplied return path inside the mount base (no
// open redirects).
func cleanPath(base, p string) string {
	if p == "" || !strings.HasPrefix(p, base+"/") || strings.HasPrefix(p, "//") || strings.ContainsAny(p, "\\\r\n") {
		return base + "/"
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" {
		return base + "/"
	}
	cp := path.Clean(u.Path)
	if !strings.HasPrefix(cp, base) {
		return base + "/"
	}
	if u.RawQuery != "" {
		return cp + "?" + u.RawQuery
	}
	return cp
}
