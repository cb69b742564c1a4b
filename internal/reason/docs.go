package reason

import (
	"bytes"
	"fmt"
	"html/template"
	"strings"
)

// Markdown renders the catalogue as docs/errors.md. The file in the
// repository is generated from this (go generate ./internal/reason) and a
// test fails when it is stale.
func Markdown() []byte {
	var b bytes.Buffer
	b.WriteString("# Gatehouse reason codes\n\n")
	b.WriteString("<!-- Generated from internal/reason/catalogue.go by `go generate ./internal/reason`. Do not edit. -->\n\n")
	b.WriteString("Every rejection carries one of these codes in `code` (problem+json) or `error.code` (OpenAI format). ")
	b.WriteString("Codes are a stable API: adding is fine, renaming is a breaking change. ")
	b.WriteString("Each code also has a page on every gateway at `/.well-known/gatehouse/errors/<code>`.\n\n")
	b.WriteString("Codes marked *after proof* are only ever shown to a caller that proved it holds the credential ")
	b.WriteString("(the secret matched, the signature verified); before that a caller learns only what its own input shows.\n\n")
	b.WriteString("| code | status | title | RFC 6750 error | disclosed |\n|---|---|---|---|---|\n")
	for _, e := range All() {
		fmt.Fprintf(&b, "| [`%s`](#%s) | %d | %s | %s | %s |\n", e.Code, anchor(e.Code), e.Status, e.Title, bearerDoc(e.Bearer), disclosedDoc(e))
	}
	for _, e := range All() {
		fmt.Fprintf(&b, "\n## %s\n\n**%d — %s.** %s\n\n", e.Code, e.Status, e.Title, e.Meaning)
		if len(e.Causes) > 0 {
			b.WriteString("Common causes:\n\n")
			for _, c := range e.Causes {
				fmt.Fprintf(&b, "- %s\n", c)
			}
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "Fix: %s\n", e.Hint)
	}
	return b.Bytes()
}

func anchor(code string) string { return strings.ReplaceAll(code, ".", "") }

func bearerDoc(b string) string {
	switch b {
	case "-":
		return "—"
	case BearerNone:
		return "(none: no credential sent)"
	}
	return "`" + b + "`"
}

func disclosedDoc(e Entry) string {
	if e.Possession {
		return "after proof"
	}
	return "always"
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{{.Code}} — Gatehouse</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem;color:#222}
code{background:#f3f3f3;padding:.1em .3em;border-radius:3px}.status{color:#666}</style></head>
<body><p class="status">Gatehouse reason code · HTTP {{.Status}}</p>
<h1><code>{{.Code}}</code> — {{.Title}}</h1>
<p>{{.Meaning}}</p>
{{if .Causes}}<h2>Common causes</h2><ul>{{range .Causes}}<li>{{.}}</li>{{end}}</ul>{{end}}
<h2>How to fix it</h2><p>{{.Hint}}</p>
<h2>Still stuck?</h2><p>Every rejection carries a <code>request_id</code>. Give it to the API operator: <code>gatehouse explain &lt;request_id&gt;</code> shows the full decision trace. Or run <code>gatehouse doctor --url &lt;URL&gt; -H 'Authorization: Bearer …'</code> to check your request yourself.</p>
<p><a href="./">All reason codes</a></p>
</body></html>
`))

var indexTmpl = template.Must(template.New("index").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Reason codes — Gatehouse</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem}td{padding:.2em .6em}</style></head>
<body><h1>Gatehouse reason codes</h1><table>
{{range .}}<tr><td><a href="{{.Code}}"><code>{{.Code}}</code></a></td><td>{{.Status}}</td><td>{{.Title}}</td></tr>
{{end}}</table></body></html>
`))

// Page renders the HTML page for code (ok=false for an unknown code).
func Page(code string) ([]byte, bool) {
	e, ok := byCode[code]
	if !ok {
		return nil, false
	}
	var b bytes.Buffer
	if err := pageTmpl.Execute(&b, e); err != nil {
		return nil, false
	}
	return b.Bytes(), true
}

// Family is a code's family: the part before the first dot ("key" for
// key.revoked). A route with minimal disclosure answers with the family
// only, and its `type` link points at the family's page.
func Family(code string) string {
	f, _, _ := strings.Cut(code, ".")
	return f
}

// FamilyPages renders, for every family of the catalogue, the list of its
// codes (what a minimal-disclosure rejection's `type` resolves to).
func FamilyPages() map[string][]byte {
	byFamily := map[string][]Entry{}
	for _, e := range All() {
		f := Family(e.Code)
		byFamily[f] = append(byFamily[f], e)
	}
	out := make(map[string][]byte, len(byFamily))
	for f, es := range byFamily {
		var b bytes.Buffer
		_ = indexTmpl.Execute(&b, es)
		out[f] = b.Bytes()
	}
	return out
}

// IndexPage renders the list of all codes.
func IndexPage() []byte {
	var b bytes.Buffer
	_ = indexTmpl.Execute(&b, All())
	return b.Bytes()
}
