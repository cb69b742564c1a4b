package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"gatehouse/internal/domain"
)

func (a *app) routeCmd() *cobra.Command {
	var service, name, typ, prompt string
	var paths, methods, auth, scopes, hosts []string
	var strip bool
	var cf corsFlags
	var lim limitFlags
	var create *cobra.Command
	create = &cobra.Command{
		Use:   "create --service S --path /x [--method GET]… [--auth api_key] [--scopes a,b] [--strip-prefix] [--rate-limit 100/1m] [--quota 10000/day] [--cors-origin https://app.example.com]…",
		Short: "Create a route (which requests map to a service)",
		Example: "  gatehouse route create --service orders --path /v1/orders --method GET --method POST --scopes orders:read\n" +
			"  gatehouse route create --service orders --path /v1/orders --cors-origin https://shop.example.com --cors-header content-type --cors-max-age 10m",
		RunE: a.run(spec{required: []string{"service", "path"}}, func(ctx context.Context, c *client, _ []string) error {
			ms, err := routeMatch(paths, methods)
			if err != nil {
				return err
			}
			body := map[string]any{"service": service, "paths": paths, "methods": ms, "auth": nonNil(auth), "scopes": nonNil(scopes)}
			if len(auth) == 0 {
				body["auth"] = []string{domain.AuthAPIKey}
			}
			if strip {
				body["strip_prefix"] = true
			}
			if len(hosts) > 0 {
				body["hosts"] = hosts
			}
			if name != "" {
				body["name"] = name
			}
			if typ != "" {
				body["type"] = typ
			}
			if prompt != "" {
				body["prompt"] = prompt
			}
			cors, err := cf.body()
			if err != nil {
				return err
			}
			if cors != nil {
				body["cors"] = cors
			}
			if err := lim.body(create.Flags(), body); err != nil {
				return err
			}
			return object(ctx, a, c, http.MethodPost, "/routes", body, func(r domain.Route) error {
				fmt.Fprintf(a.io.Out, "Created route %s; it takes effect on the next request.\n", clean(r.ID))
				return a.showRoute(r)
			})
		}),
	}
	f := create.Flags()
	f.StringVar(&service, "service", "", "service id or name (required)")
	f.StringArrayVar(&paths, "path", nil, "path prefix, e.g. /v1/orders; repeatable (required)")
	f.StringArrayVar(&methods, "method", nil, "HTTP method; repeatable (default: any)")
	f.StringSliceVar(&auth, "auth", nil, "accepted auth methods, comma-separated: api_key, jwt, introspection, http_signature, mtls, basic (default api_key)")
	f.StringSliceVar(&scopes, "scopes", nil, "scopes a caller must hold, comma-separated")
	f.BoolVar(&strip, "strip-prefix", false, "remove the matched path prefix before forwarding")
	f.StringArrayVar(&hosts, "host", nil, "only match this Host; repeatable (default: any host)")
	f.StringVar(&name, "name", "", "a label for people")
	f.StringVar(&typ, "type", "", "proxy (default), ai (the OpenAI API under the path) or prompt (serves --prompt)")
	f.StringVar(&prompt, "prompt", "", "with --type prompt: the prompt's id, name or tenant-slug/name")
	cf.add(create)
	lim.add(create, false)

	var lf listFlags
	var byService string
	ls := &cobra.Command{
		Use:   "list [--service S]",
		Short: "List routes",
		RunE: a.run(spec{}, func(ctx context.Context, c *client, _ []string) error {
			q := url.Values{}
			if byService != "" {
				q.Set("service", byService)
			}
			return list(ctx, a, c, listing[domain.Route]{
				path: "/routes", plural: "routes",
				header: []string{"ID", "SERVICE", "PATHS", "METHODS", "AUTH", "SCOPES", "HOSTS"},
				row: func(r domain.Route) []string {
					return []string{clean(r.ID), clean(r.ServiceID), csv(r.Paths), or(csvOrEmpty(r.Methods), "any"), authList(r.Auth), csv(r.Scopes), or(csvOrEmpty(r.Hosts), "any")}
				},
			}, q, lf)
		}),
	}
	ls.Flags().StringVar(&byService, "service", "", "only this service's routes")
	lf.add(ls)

	get := &cobra.Command{
		Use:   "get <id>",
		Short: "Show one route",
		RunE: a.run(spec{args: []string{"<id>"}}, func(ctx context.Context, c *client, args []string) error {
			return object(ctx, a, c, http.MethodGet, "/routes/"+pathEscape(args[0]), nil, a.showRoute)
		}),
	}
	del := &cobra.Command{
		Use:   "delete <id>",
		Short: "Delete a route; its requests answer route.not_found from the next one on",
		RunE: a.run(spec{args: []string{"<id>"}}, func(ctx context.Context, c *client, args []string) error {
			return remove(ctx, a, c, "/routes/"+pathEscape(args[0]), fmt.Sprintf("Route %s deleted.", clean(args[0])))
		}),
	}
	return a.group("route", "Manage routes",
		"Routes map requests (host, path prefix, methods) to a service and say which credentials and scopes they require.",
		create, a.routeUpdateCmd(), ls, get, del)
}

// routeMatch checks --path values and upper-cases --method values.
func routeMatch(paths, methods []string) ([]string, error) {
	for _, p := range paths {
		if !strings.HasPrefix(p, "/") {
			return nil, fmt.Errorf("--path %q must start with /", p)
		}
	}
	ms := make([]string, len(methods))
	for i, m := range methods {
		ms[i] = strings.ToUpper(m)
	}
	return ms, nil
}

// routeUpdateCmd is route update: the flags given change those fields
// (PATCH), the rest stay as they are.
func (a *app) routeUpdateCmd() *cobra.Command {
	var name, disclosure string
	var paths, methods, auth, scopes, hosts []string
	var strip bool
	var maxBody int64
	var lf limitFlags
	var update *cobra.Command
	update = &cobra.Command{
		Use: "update <id> [--path /x]… [--method GET]… [--auth api_key,jwt] [--scopes a,b] [--host h]… [--strip-prefix[=false]] " +
			"[--rate-limit 100/1m|none [--rate-limit-by consumer|credential|route]] [--quota 10000/day|none [--quota-by …]] " +
			"[--max-body BYTES] [--disclosure full|minimal] [--name N]",
		Short: "Change a route: the fields whose flags are given, the rest as they are",
		Example: "  gatehouse route update rt_123 --rate-limit 600/1m --rate-limit-by credential\n" +
			"  gatehouse route update rt_123 --quota 100000/month --scopes orders:read,orders:write\n" +
			"  gatehouse route update rt_123 --rate-limit none --disclosure minimal",
		RunE: a.run(spec{args: []string{"<id>"}}, func(ctx context.Context, c *client, args []string) error {
			f := update.Flags()
			body := map[string]any{}
			set := func(flag, field string, v any) {
				if f.Changed(flag) {
					body[field] = v
				}
			}
			ms, err := routeMatch(paths, methods)
			if err != nil {
				return err
			}
			set("path", "paths", paths)
			set("method", "methods", ms)
			set("auth", "auth", nonNil(auth))
			set("scopes", "scopes", nonNil(scopes))
			set("host", "hosts", nonNil(hosts))
			set("strip-prefix", "strip_prefix", strip)
			set("name", "name", name)
			set("max-body", "max_body", maxBody)
			set("disclosure", "disclosure", disclosure)
			if err := lf.body(f, body); err != nil {
				return err
			}
			if len(body) == 0 {
				return &usageError{"nothing to change: give at least one of the flags (gatehouse route update --help lists them)"}
			}
			return object(ctx, a, c, http.MethodPatch, "/routes/"+pathEscape(args[0]), body, func(r domain.Route) error {
				fmt.Fprintf(a.io.Out, "Updated route %s; it takes effect on the next request.\n", clean(r.ID))
				return a.showRoute(r)
			})
		}),
	}
	f := update.Flags()
	f.StringArrayVar(&paths, "path", nil, "path prefix; repeatable: the paths replace the route's")
	f.StringArrayVar(&methods, "method", nil, "HTTP method; repeatable: the methods replace the route's")
	f.StringSliceVar(&auth, "auth", nil, "accepted auth methods, comma-separated: api_key, jwt, introspection, http_signature, mtls, basic")
	f.StringSliceVar(&scopes, "scopes", nil, "scopes a caller must hold, comma-separated (--scopes '' for none)")
	f.StringArrayVar(&hosts, "host", nil, "only match this Host; repeatable: the hosts replace the route's")
	f.BoolVar(&strip, "strip-prefix", false, "remove the matched path prefix before forwarding (--strip-prefix=false to stop)")
	f.StringVar(&name, "name", "", "a label for people")
	f.Int64Var(&maxBody, "max-body", 0, "the largest request body in bytes (request.too_large past it); 0 for the gateway's default")
	f.StringVar(&disclosure, "disclosure", "", "full (the default: code, detail, hint) or minimal (the code family only)")
	lf.add(update, true)
	return update
}

// limitFlags are route create's and update's --rate-limit and --quota
// flags, written calls/period ("100/1m", "10000/day").
type limitFlags struct {
	rate, rateBy, quota, quotaBy string
}

func (lf *limitFlags) add(c *cobra.Command, update bool) {
	none := ""
	if update {
		none = ", or none to remove it"
	}
	f := c.Flags()
	f.StringVar(&lf.rate, "rate-limit", "", "calls per period, e.g. 100/1m or 10/1s"+none)
	f.StringVar(&lf.rateBy, "rate-limit-by", "", "what the rate limit counts: consumer (default), credential or route")
	f.StringVar(&lf.quota, "quota", "", "calls per calendar day or month (UTC), e.g. 10000/day or 1000000/month"+none)
	f.StringVar(&lf.quotaBy, "quota-by", "", "what the quota counts: consumer (default), credential or route")
}

// body adds the flags given to the route's body ("none": null, removed);
// the admin API validates periods and names the field.
func (lf *limitFlags) body(f *pflag.FlagSet, body map[string]any) error {
	for _, l := range []struct{ flag, byFlag, field, example, v, by string }{
		{"rate-limit", "rate-limit-by", "rate_limit", "100/1m", lf.rate, lf.rateBy},
		{"quota", "quota-by", "quota", "10000/day", lf.quota, lf.quotaBy},
	} {
		if f.Changed(l.byFlag) && !f.Changed(l.flag) {
			return &usageError{"--" + l.byFlag + " goes with --" + l.flag + " (e.g. --" + l.flag + " " + l.example + " --" + l.byFlag + " credential)"}
		}
		if !f.Changed(l.flag) {
			continue
		}
		if l.v == "none" {
			body[l.field] = nil // null removes it
			continue
		}
		n, period, ok := strings.Cut(l.v, "/")
		limit, err := strconv.ParseInt(n, 10, 64)
		if !ok || err != nil || period == "" {
			return &usageError{fmt.Sprintf("--%s %q: write calls/period, e.g. %s, or none to remove it", l.flag, l.v, l.example)}
		}
		m := map[string]any{"limit": limit, "period": period}
		if l.by != "" {
			m["by"] = l.by
		}
		body[l.field] = m
	}
	return nil
}

func (a *app) showRoute(r domain.Route) error {
	kv := []string{
		"ID", clean(r.ID),
		"Service", clean(r.ServiceID),
	}
	if r.Name != "" {
		kv = append(kv, "Name", clean(r.Name))
	}
	kv = append(kv,
		"Paths", csv(r.Paths),
		"Methods", or(csvOrEmpty(r.Methods), "any"),
		"Hosts", or(csvOrEmpty(r.Hosts), "any"),
		"Auth", authList(r.Auth),
		"Scopes", csv(r.Scopes),
		"Strip prefix", yesNo(r.StripPrefix, "yes", "no"),
	)
	if r.Type != "" && r.Type != domain.RouteProxy {
		kv = append(kv, "Type", clean(r.Type))
	}
	if r.PromptID != "" {
		kv = append(kv, "Prompt", clean(r.PromptID))
	}
	if l := r.RateLimit; l != nil {
		kv = append(kv, "Rate limit", strconv.Itoa(l.Limit)+" per "+l.Period.D().String()+" per "+or(clean(l.By), "consumer"))
	}
	if q := r.Quota; q != nil {
		kv = append(kv, "Quota", strconv.FormatInt(q.Limit, 10)+" per "+clean(q.Period)+" per "+or(clean(q.By), "consumer"))
	}
	if r.MaxBody > 0 {
		kv = append(kv, "Max body", strconv.FormatInt(r.MaxBody, 10)+" bytes")
	}
	if r.Disclosure == "minimal" {
		kv = append(kv, "Disclosure", "minimal (rejections name only the code family)")
	}
	if r.CORS != nil {
		kv = append(kv, "CORS", corsSummary(r.CORS))
	}
	if r.Declared {
		kv = append(kv, "Declared", "yes: in gatehouse.yaml, read-only here")
	}
	kv = append(kv, "Created", when(r.CreatedAt, a.io.Now()))
	return fields(a.io.Out, kv...)
}

// authList shows a route's accepted auth methods; empty means api_key.
func authList(v []string) string {
	if len(v) == 0 {
		return domain.AuthAPIKey
	}
	return csv(v)
}

// corsFlags are route create's --cors-* flags.
type corsFlags struct {
	origins, methods, headers, exposed []string
	credentials                        bool
	maxAge                             string
}

func (cf *corsFlags) add(c *cobra.Command) {
	f := c.Flags()
	f.StringArrayVar(&cf.origins, "cors-origin", nil, "let pages on this origin call the route from a browser (CORS), e.g. https://app.example.com, https://*.example.com or *; repeatable")
	f.StringArrayVar(&cf.methods, "cors-method", nil, "with --cors-origin: a method pages may use; repeatable (default: the route's methods)")
	f.StringArrayVar(&cf.headers, "cors-header", nil, "with --cors-origin: a request header pages may send, e.g. content-type; repeatable (default: any)")
	f.StringArrayVar(&cf.exposed, "cors-expose", nil, "with --cors-origin: a response header pages may read; repeatable")
	f.BoolVar(&cf.credentials, "cors-credentials", false, "with --cors-origin: allow cookies, HTTP authentication and client certificates (not with *)")
	f.StringVar(&cf.maxAge, "cors-max-age", "", "with --cors-origin: how long browsers may cache the preflight answer, e.g. 10m (at most 24h)")
}

// body is the route's "cors" member, or nil when no --cors-* flag is set;
// the admin API validates the rest and names the field.
func (cf *corsFlags) body() (map[string]any, error) {
	if len(cf.origins) == 0 {
		if len(cf.methods)+len(cf.headers)+len(cf.exposed) > 0 || cf.credentials || cf.maxAge != "" {
			return nil, errors.New("--cors-method, --cors-header, --cors-expose, --cors-credentials and --cors-max-age need --cors-origin: the origins of the pages that may call the route")
		}
		return nil, nil
	}
	b := map[string]any{"allowed_origins": cf.origins}
	if len(cf.methods) > 0 {
		ms := make([]string, len(cf.methods))
		for i, m := range cf.methods {
			ms[i] = strings.ToUpper(m)
		}
		b["allowed_methods"] = ms
	}
	if len(cf.headers) > 0 {
		b["allowed_headers"] = cf.headers
	}
	if len(cf.exposed) > 0 {
		b["exposed_headers"] = cf.exposed
	}
	if cf.credentials {
		b["allow_credentials"] = true
	}
	if cf.maxAge != "" {
		b["max_age"] = cf.maxAge
	}
	return b, nil
}

// corsSummary is one line for people: origins, then what else is set.
func corsSummary(c *domain.CORS) string {
	s := csv(c.AllowedOrigins)
	var extra []string
	if len(c.AllowedMethods) > 0 {
		extra = append(extra, "methods "+csv(c.AllowedMethods))
	}
	if len(c.AllowedHeaders) > 0 {
		extra = append(extra, "headers "+csv(c.AllowedHeaders))
	}
	if len(c.ExposedHeaders) > 0 {
		extra = append(extra, "exposes "+csv(c.ExposedHeaders))
	}
	if c.AllowCredentials {
		extra = append(extra, "credentials")
	}
	if c.MaxAge > 0 {
		extra = append(extra, "max age "+c.MaxAge.D().String())
	}
	if len(extra) > 0 {
		s += " (" + strings.Join(extra, "; ") + ")"
	}
	return clean(s)
}
