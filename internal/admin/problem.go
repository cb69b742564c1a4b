package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Admin API problem codes. They are the admin API's own catalogue, separate
// from the proxy's reason codes (internal/reason): an operator's mistake is
// not a caller's rejection. Scripts may switch on them; adding is fine,
// renaming is a breaking change.
const (
	CodeUnauthorized     = "admin.unauthorized"       // 401: no token, or a token no admin has
	CodeForbidden        = "admin.forbidden"          // 403: the role may not do this (audited)
	CodeNotFound         = "admin.not_found"          // 404: no such object or path
	CodeMethodNotAllowed = "admin.method_not_allowed" // 405: path exists, method does not
	CodeInvalid          = "admin.invalid"            // 400: a field is missing or wrong; detail names it
	CodeConflict         = "admin.conflict"           // 409: a unique name is taken, or the state forbids it
	CodeAmbiguous        = "admin.ambiguous"          // 409: a name matches objects in several tenants
	CodeDeclared         = "admin.declared"           // 409: the object is declared in gatehouse.yaml
	CodeTooLarge         = "admin.too_large"          // 413: request body over the limit
	CodeInternal         = "admin.internal"           // 500: a store or gateway failure
	CodeUnavailable      = "admin.unavailable"        // 503: the store is unreachable; retry once it is back
)

// problemTypeBase prefixes every problem's type URI. It is a URN rather than
// a URL because the admin listener serves no error pages; the code after it
// is the stable part.
const problemTypeBase = "urn:gatehouse:admin:"

var problemTitles = map[string]string{
	CodeUnauthorized:     "Admin token missing or not recognised",
	CodeForbidden:        "Not allowed for this admin",
	CodeNotFound:         "Not found",
	CodeMethodNotAllowed: "Method not allowed",
	CodeInvalid:          "Invalid request",
	CodeConflict:         "Conflict",
	CodeAmbiguous:        "Ambiguous reference",
	CodeDeclared:         "Declared in gatehouse.yaml",
	CodeTooLarge:         "Request body too large",
	CodeInternal:         "Internal error",
	CodeUnavailable:      "Store unreachable",
}

var problemStatus = map[string]int{
	CodeUnauthorized:     http.StatusUnauthorized,
	CodeForbidden:        http.StatusForbidden,
	CodeNotFound:         http.StatusNotFound,
	CodeMethodNotAllowed: http.StatusMethodNotAllowed,
	CodeInvalid:          http.StatusBadRequest,
	CodeConflict:         http.StatusConflict,
	CodeAmbiguous:        http.StatusConflict,
	CodeDeclared:         http.StatusConflict,
	CodeTooLarge:         http.StatusRequestEntityTooLarge,
	CodeInternal:         http.StatusInternalServerError,
	CodeUnavailable:      http.StatusServiceUnavailable,
}

// apiError is every failure a handler returns to its caller. Detail is
// told to the admin and must name the field or object and the fix; Err is
// the cause for the log only.
type apiError struct {
	Code   string
	Detail string
	// Extra adds members to the problem body (e.g. "candidates" for an
	// ambiguous name).
	Extra map[string]any
	Err   error
}

func (e *apiError) Error() string {
	s := e.Code + ": " + e.Detail
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *apiError) Unwrap() error { return e.Err }

func (e *apiError) status() int {
	if s, ok := problemStatus[e.Code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

func invalid(format string, args ...any) *apiError {
	return &apiError{Code: CodeInvalid, Detail: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *apiError {
	return &apiError{Code: CodeNotFound, Detail: fmt.Sprintf(format, args...)}
}

func conflict(format string, args ...any) *apiError {
	return &apiError{Code: CodeConflict, Detail: fmt.Sprintf(format, args...)}
}

func internal(err error, format string, args ...any) *apiError {
	return &apiError{Code: CodeInternal, Detail: fmt.Sprintf(format, args...), Err: err}
}

// deniedError is a refusal by role or tenant. The handler wrapper audits it
// (in its own transaction, since the refused change was rolled back) before
// answering 403.
type deniedError struct {
	Action     string // e.g. "consumer.suspend"
	Resource   string
	ResourceID string
	Detail     string
}

func (e *deniedError) Error() string { return "denied " + e.Action + ": " + e.Detail }

// problem is the problem+json body (RFC 9457) of every admin API error.
type problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Code      string `json:"code"`
	Detail    string `json:"detail,omitempty"`
	RequestID string `json:"request_id,omitempty"`
	Instance  string `json:"instance,omitempty"`
}

// writeProblem renders e. Instance is the request path only: never the
// query, which is the admin's own input but has no place in a log line
// copied from the body.
func writeProblem(w http.ResponseWriter, e *apiError, requestID, instance string) {
	p := problem{
		Type:      problemTypeBase + e.Code,
		Title:     problemTitles[e.Code],
		Status:    e.status(),
		Code:      e.Code,
		Detail:    e.Detail,
		RequestID: requestID,
		Instance:  instance,
	}
	var body []byte
	if len(e.Extra) == 0 {
		body, _ = json.Marshal(p)
	} else {
		// Merge extension members after the standard ones.
		m := map[string]any{}
		for k, v := range e.Extra {
			m[k] = v
		}
		b, _ := json.Marshal(p)
		var std map[string]any
		_ = json.Unmarshal(b, &std)
		for k, v := range std {
			m[k] = v
		}
		body, _ = json.Marshal(m)
	}
	body = append(body, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if e.Code == CodeUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="gatehouse-admin"`)
	}
	w.WriteHeader(p.Status)
	_, _ = w.Write(body)
}

// decodeError turns an encoding/json failure into a detail that names the
// field and what it should be.
func decodeError(err error) *apiError {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var big *http.MaxBytesError
	switch {
	case errors.As(err, &big):
		return &apiError{Code: CodeTooLarge, Detail: fmt.Sprintf("request body is larger than %d bytes", big.Limit)}
	case errors.As(err, &syn):
		return invalid("request body is not valid JSON at byte %d: %s", syn.Offset, strings.TrimPrefix(syn.Error(), "json: "))
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return invalid("request body must be a JSON object, not %s", typ.Value)
		}
		return invalid("field %q must be %s, not %s", field, jsonKind(typ.Type.Kind().String(), typ.Type.String()), typ.Value)
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return invalid("unknown field %s in request body; see /admin/v1/openapi.json for the accepted fields", f)
	}
	if strings.Contains(msg, "unexpected EOF") {
		return invalid("request body is truncated JSON")
	}
	return invalid("request body: %s", strings.TrimPrefix(msg, "json: "))
}

func jsonKind(kind, typ string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return "a number"
	case "slice", "array":
		if strings.HasSuffix(typ, "string") {
			return "an array of strings"
		}
		return "an array"
	case "map", "struct":
		return "an object"
	}
	return typ
}
