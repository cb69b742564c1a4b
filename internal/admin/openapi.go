package admin

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"gatehouse/internal/domain"
)

// openAPIDocument builds the OpenAPI 3.1 document from the route table and
// the Go types of bodies and answers, so what is served and what is
// documented cannot drift apart.
func (a *API) openAPIDocument() map[string]any {
	g := &schemaGen{schemas: map[string]any{}}
	paths := map[string]map[string]any{}
	for _, ep := range a.endpoints {
		op := map[string]any{
			"operationId": operationID(ep.Action),
			"summary":     ep.Summary,
			"tags":        []string{ep.Resource},
			"description": "Who may call it: " + ep.Perm.String() + ".",
		}
		var params []map[string]any
		for _, m := range pathParamRE.FindAllStringSubmatch(ep.Path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		for _, q := range ep.Query {
			params = append(params, map[string]any{"name": q.Name, "in": "query", "required": false,
				"description": q.Description, "schema": map[string]any{"type": q.Type}})
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if ep.Body != nil {
			op["requestBody"] = map[string]any{
				"required": !ep.BodyOptional,
				"content":  map[string]any{"application/json": map[string]any{"schema": g.ref(reflect.TypeOf(ep.Body), ep.Method == http.MethodPatch)}},
			}
		}
		ok := map[string]any{"description": http.StatusText(ep.Status)}
		switch {
		case ep.Status == http.StatusNoContent:
		case ep.Resp == nil:
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}
		case ep.List:
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": map[string]any{
				"type":     "object",
				"required": []string{"items", "next"},
				"properties": map[string]any{
					"items": map[string]any{"type": "array", "items": g.ref(reflect.TypeOf(ep.Resp), false)},
					"next":  map[string]any{"type": "string", "description": "cursor for the next page (?after=); empty on the last page"},
				},
			}}}
		default:
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": g.ref(reflect.TypeOf(ep.Resp), false)}}
		}
		op["responses"] = map[string]any{
			strconv.Itoa(ep.Status): ok,
			"default":               map[string]any{"$ref": "#/components/responses/Problem"},
		}
		if ep.Perm == permPublic {
			op["security"] = []any{}
		}
		if paths[ep.Path] == nil {
			paths[ep.Path] = map[string]any{}
		}
		paths[ep.Path][strings.ToLower(ep.Method)] = op
	}
	g.schemas["Problem"] = g.object(reflect.TypeOf(problem{}), false)
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":   "Gatehouse admin API",
			"version": a.cfg.Version,
			"description": "Manage tenants, consumers, API keys, services and routes, read the call log and the audit trail. " +
				"Authenticate with 'Authorization: Bearer <admin token>'. Errors are application/problem+json with a stable code " +
				"(admin.invalid, admin.not_found, …) and a detail naming the field and the fix. Lists are paginated with ?after= " +
				"and ?limit=, answering {\"items\":[…],\"next\":\"…\"}.",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": g.schemas,
			"securitySchemes": map[string]any{
				"bearerAuth": map[string]any{"type": "http", "scheme": "bearer", "description": "an admin token (gha_…)"},
			},
			"responses": map[string]any{
				"Problem": map[string]any{
					"description": "An error (RFC 9457 problem details)",
					"content":     map[string]any{"application/problem+json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Problem"}}},
				},
			},
		},
		"security": []any{map[string]any{"bearerAuth": []string{}}},
	}
}

var pathParamRE = regexp.MustCompile(`\{([A-Za-z_]+)\}`)

// operationID turns "key.revoke" into "keyRevoke".
func operationID(action string) string {
	parts := strings.Split(action, ".")
	for i := 1; i < len(parts); i++ {
		if parts[i] != "" {
			parts[i] = strings.ToUpper(parts[i][:1]) + parts[i][1:]
		}
	}
	return strings.Join(parts, "")
}

// schemaGen turns Go types into JSON Schema (2020-12, as OpenAPI 3.1 uses),
// registering named structs under components/schemas.
type schemaGen struct{ schemas map[string]any }

var (
	timeType     = reflect.TypeOf(time.Time{})
	durationType = reflect.TypeOf(domain.Duration(0))
	rawType      = reflect.TypeOf(json.RawMessage{})
	targetType   = reflect.TypeOf(targetInput{})
	microsType   = reflect.TypeOf(domain.Micros(0))
	decimalType  = reflect.TypeOf(decimalText(""))
)

// ref returns a $ref to the named struct t (registering it), or an inline
// schema for other types. patch registers a variant with nothing required.
func (g *schemaGen) ref(t reflect.Type, patch bool) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == timeType {
		return g.schema(t)
	}
	name := schemaName(t)
	if patch {
		name += "Patch"
	}
	if _, ok := g.schemas[name]; !ok {
		g.schemas[name] = map[string]any{} // placeholder against recursion
		g.schemas[name] = g.object(t, patch)
	}
	return map[string]any{"$ref": "#/components/schemas/" + name}
}

func schemaName(t reflect.Type) string {
	n := []rune(t.Name())
	if len(n) == 0 {
		return "Object"
	}
	n[0] = unicode.ToUpper(n[0])
	return string(n)
}

func (g *schemaGen) schema(t reflect.Type) map[string]any {
	switch t {
	case timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case durationType:
		return map[string]any{"type": "string", "description": "Go duration, e.g. \"30s\" or \"24h\""}
	case rawType:
		return map[string]any{}
	case microsType, decimalType:
		return map[string]any{"type": "string", "pattern": `^[0-9]+(\.[0-9]{1,6})?$`,
			"description": "exact decimal amount (at most 6 decimal places), e.g. \"0.15\"; stored as integer millionths"}
	case targetType:
		return map[string]any{"oneOf": []any{
			map[string]any{"type": "string", "format": "uri", "description": "base URL, weight 1"},
			g.ref(reflect.TypeOf(domain.Target{}), false),
		}}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.schema(t.Elem())
	case reflect.Struct:
		if t.Name() == "" {
			return g.object(t, false)
		}
		return g.ref(t, false)
	case reflect.Slice, reflect.Array:
		return map[string]any{"type": "array", "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.schema(t.Elem())}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	}
	return map[string]any{}
}

// jsonField is one member of a struct's JSON form.
type jsonField struct {
	name     string
	typ      reflect.Type
	optional bool
	depth    int
}

// jsonFields lists t's JSON members as encoding/json sees them: embedded
// structs flattened, the shallower of two same-named fields winning.
func jsonFields(t reflect.Type, depth int, out map[string]jsonField) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		ft := f.Type
		if f.Anonymous && name == "" {
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				jsonFields(ft, depth+1, out)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if prev, ok := out[name]; ok && prev.depth <= depth {
			continue
		}
		optional := strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero")
		out[name] = jsonField{name: name, typ: ft, optional: optional, depth: depth}
	}
}

func (g *schemaGen) object(t reflect.Type, patch bool) map[string]any {
	fields := map[string]jsonField{}
	jsonFields(t, 0, fields)
	props := map[string]any{}
	var required []string
	for name, f := range fields {
		ps := g.schema(f.typ)
		if typ, ok := ps["type"].(string); ok && f.typ.Kind() == reflect.Pointer {
			// A nil pointer encodes as null (expires_at of a key that never expires).
			ps["type"] = []string{typ, "null"}
		}
		props[name] = ps
		if !f.optional && !patch {
			required = append(required, name)
		}
	}
	s := map[string]any{"type": "object", "properties": props}
	if len(required) > 0 {
		sort.Strings(required)
		s["required"] = required
	}
	return s
}
