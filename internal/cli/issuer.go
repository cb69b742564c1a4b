package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"

	"gatehouse/internal/domain"
)

// issuerItem is an issuer as the admin API shows it: its secrets only as
// flags.
type issuerItem struct {
	domain.Issuer
	HasIntrospectionClientSecret bool `json:"has_introspection_client_secret"`
	HasHS256Secret               bool `json:"has_hs256_secret"`
}

func (a *app) issuerCmd() *cobra.Command {
	var name, iss, jwks, discovery, introURL, introClient, introSecretFile, leeway, typ, hsFile string
	var audiences, algorithms, claims []string
	create := &cobra.Command{
		Use:   "create --name N --issuer ISS (--jwks-url U | --discovery-url U | --introspection-url U … | --hs256-secret-file F) [--audience A]…",
		Short: "Trust a JWT issuer; its secrets are read from files, stored encrypted and never shown",
		Long: "Trust a JWT issuer, so jwt_binding credentials can map its tokens to consumers. Signed tokens are\n" +
			"checked with the keys from --jwks-url or --discovery-url (OIDC); opaque tokens by RFC 7662\n" +
			"introspection (--introspection-url with a client id and a secret file); HS256 tokens with a shared\n" +
			"secret of at least 32 bytes (--hs256-secret-file). Secrets never go on the command line.",
		Example: "  gatehouse issuer create --name okta --issuer https://acme.okta.com/oauth2/default \\\n" +
			"      --discovery-url https://acme.okta.com/oauth2/default/.well-known/openid-configuration --audience api://orders",
		RunE: a.run(spec{required: []string{"name", "issuer"}, extraArgs: "unexpected argument: secrets are read from files (--hs256-secret-file, " +
			"--introspection-client-secret-file), never arguments; see --help"}, func(ctx context.Context, c *client, _ []string) error {
			body := map[string]any{"name": name, "issuer": iss}
			for k, v := range map[string]string{"jwks_url": jwks, "discovery_url": discovery, "introspection_url": introURL,
				"introspection_client_id": introClient, "typ": typ} {
				if v != "" {
					body[k] = v
				}
			}
			if leeway != "" {
				d, err := parseDuration(leeway)
				if err != nil {
					return fmt.Errorf("--leeway: %w", err)
				}
				body["leeway"] = d.String()
			}
			for k, v := range map[string][]string{"audiences": audiences, "algorithms": algorithms, "required_claims": claims} {
				if len(v) > 0 {
					body[k] = v
				}
			}
			for _, s := range []struct{ file, field, what string }{
				{hsFile, "hs256_secret", "HS256 secret"},
				{introSecretFile, "introspection_client_secret", "introspection client secret"},
			} {
				if s.file == "" {
					continue
				}
				v, err := a.readSecretLine(s.file, s.what)
				if err != nil {
					return err
				}
				body[s.field] = v
			}
			return object(ctx, a, c, http.MethodPost, "/issuers", body, func(i issuerItem) error {
				fmt.Fprintf(a.io.Out, "Trusted issuer %s. Bind tokens to a consumer with: gatehouse credential create --type jwt_binding --issuer %s --subject …\n",
					clean(i.Name), clean(i.Name))
				return a.showIssuer(i)
			})
		}),
	}
	f := create.Flags()
	f.StringVar(&name, "name", "", "a name for the issuer (required)")
	f.StringVar(&iss, "issuer", "", "the exact iss value of its tokens (required)")
	f.StringVar(&jwks, "jwks-url", "", "the issuer's JWKS URL")
	f.StringVar(&discovery, "discovery-url", "", "its OIDC discovery URL (…/.well-known/openid-configuration)")
	f.StringVar(&introURL, "introspection-url", "", "its RFC 7662 introspection endpoint, for opaque tokens")
	f.StringVar(&introClient, "introspection-client-id", "", "the client id the gateway introspects with")
	f.StringVar(&introSecretFile, "introspection-client-secret-file", "", "file holding that client's secret (- for stdin)")
	f.StringVar(&hsFile, "hs256-secret-file", "", "file holding an HS256 shared secret, at least 32 bytes (- for stdin)")
	f.StringArrayVar(&audiences, "audience", nil, "an accepted aud value; repeatable")
	f.StringArrayVar(&algorithms, "algorithm", nil, "an allowed alg; repeatable (default: RS256, PS256, ES256, EdDSA with --jwks-url or --discovery-url, and HS256 with a secret)")
	f.StringArrayVar(&claims, "required-claim", nil, "a claim every token must carry; repeatable")
	f.StringVar(&leeway, "leeway", "", "clock leeway for exp/nbf/iat (default 60s)")
	f.StringVar(&typ, "typ", "", "required JOSE typ header, e.g. at+jwt")

	var lf listFlags
	ls := &cobra.Command{
		Use:   "list",
		Short: "List trusted issuers",
		RunE: a.run(spec{}, func(ctx context.Context, c *client, _ []string) error {
			return list(ctx, a, c, listing[issuerItem]{
				path: "/issuers", plural: "issuers",
				header: []string{"ID", "NAME", "ISSUER", "KEYS FROM", "AUDIENCES", "ALGORITHMS", "LEEWAY"},
				row: func(i issuerItem) []string {
					return []string{clean(i.ID), clean(i.Name), clean(i.Issuer.Issuer), keySource(i), csv(i.Audiences), csv(i.Algorithms), i.Leeway.D().String()}
				},
			}, url.Values{}, lf)
		}),
	}
	lf.add(ls)

	get := &cobra.Command{
		Use:   "get <id|name>",
		Short: "Show one issuer (secrets only as set or not)",
		RunE: a.run(spec{args: []string{"<id|name>"}}, func(ctx context.Context, c *client, args []string) error {
			return object(ctx, a, c, http.MethodGet, "/issuers/"+pathEscape(args[0]), nil, a.showIssuer)
		}),
	}
	del := &cobra.Command{
		Use:   "delete <id|name>",
		Short: "Stop trusting an issuer (refused while a live jwt binding uses it)",
		RunE: a.run(spec{args: []string{"<id|name>"}}, func(ctx context.Context, c *client, args []string) error {
			return remove(ctx, a, c, "/issuers/"+pathEscape(args[0]), fmt.Sprintf("Issuer %s deleted: its tokens are no longer trusted.", clean(args[0])))
		}),
	}
	return a.group("issuer", "Manage trusted JWT issuers",
		"Trusted issuers of JWTs and opaque tokens; jwt_binding credentials map their tokens to consumers.",
		create, ls, get, del)
}

// keySource says where an issuer's verification material comes from.
func keySource(i issuerItem) string {
	var out []string
	if i.JWKSURL != "" {
		out = append(out, "jwks")
	}
	if i.DiscoveryURL != "" {
		out = append(out, "discovery")
	}
	if i.IntrospectionURL != "" {
		out = append(out, "introspection")
	}
	if i.HasHS256Secret {
		out = append(out, "hs256 secret")
	}
	return csv(out)
}

func (a *app) showIssuer(i issuerItem) error {
	now := a.io.Now()
	kv := []string{"ID", clean(i.ID), "Name", clean(i.Name), "Issuer", clean(i.Issuer.Issuer)}
	for _, p := range [][2]string{{"JWKS URL", i.JWKSURL}, {"Discovery URL", i.DiscoveryURL}, {"Introspection URL", i.IntrospectionURL},
		{"Introspection client", i.IntrospectionClientID}} {
		if p[1] != "" {
			kv = append(kv, p[0], clean(p[1]))
		}
	}
	if i.IntrospectionURL != "" {
		kv = append(kv, "Introspection secret", yesNo(i.HasIntrospectionClientSecret, "set (encrypted)", "not set"))
	}
	kv = append(kv, "HS256 secret", yesNo(i.HasHS256Secret, "set (encrypted)", "not set"),
		"Audiences", or(csvOrEmpty(i.Audiences), "any (aud not checked)"), "Algorithms", csv(i.Algorithms),
		"Leeway", i.Leeway.D().String())
	if len(i.RequiredClaims) > 0 {
		kv = append(kv, "Required claims", csv(i.RequiredClaims))
	}
	if i.Typ != "" {
		kv = append(kv, "Typ", clean(i.Typ))
	}
	if i.Declared {
		kv = append(kv, "Declared", "yes: in gatehouse.yaml, read-only here")
	}
	kv = append(kv, "Created", when(i.CreatedAt, now))
	return fields(a.io.Out, kv...)
}
