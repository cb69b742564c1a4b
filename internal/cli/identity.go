package cli

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/spf13/cobra"

	"gatehouse/internal/identity"
)

// identityRotation is the answer of POST /identity-keys/rotate.
type identityRotation struct {
	Current identity.KeyView  `json:"current"`
	Next    identity.KeyView  `json:"next"`
	Retired *identity.KeyView `json:"retired"`
	Deleted []string          `json:"deleted"`
}

func (a *app) identityKeyCmd() *cobra.Command {
	var lf listFlags
	ls := &cobra.Command{
		Use:   "list",
		Short: "List the keys that sign X-Gatehouse-Identity (public parts only)",
		RunE: a.run(spec{}, func(ctx context.Context, c *client, _ []string) error {
			now := a.io.Now()
			return list(ctx, a, c, listing[identity.KeyView]{
				path: "/identity-keys", plural: "identity keys",
				header: []string{"KID", "STATE", "IN JWKS", "CREATED", "RETIRED", "PUBLISHED UNTIL"},
				row: func(k identity.KeyView) []string {
					return []string{clean(k.KID), clean(k.State), yesNo(k.Published, "yes", "no"), when(k.CreatedAt, now),
						whenPtr(k.RetiredAt, now, "–"), whenPtr(k.PublishUntil, now, "–")}
				},
			}, url.Values{}, lf)
		}),
	}
	lf.add(ls)

	var grace string
	rotate := &cobra.Command{
		Use:   "rotate [--grace 24h]",
		Short: "Rotate the identity-token signing key; the old key stays in the JWKS for the grace period",
		Long: "Rotate the key that signs X-Gatehouse-Identity. The next key, published in the JWKS since the\n" +
			"last rotation (or the first start), signs from now on, so upstreams that cached the JWKS already\n" +
			"hold it; the old key stays in the JWKS for the grace period (default: the gateway's\n" +
			"identity.key_grace, 24h), so the tokens it signed keep verifying; a new next key is published.\n" +
			"--grace 0s is for a key that leaked: every old key leaves the JWKS at once and fresh keys sign.",
		Example: "  gatehouse identity-key rotate\n  gatehouse identity-key rotate --grace 0s   # the key leaked",
		RunE: a.run(spec{}, func(ctx context.Context, c *client, _ []string) error {
			body := map[string]any{}
			if grace != "" {
				body["grace"] = grace
			}
			return object(ctx, a, c, http.MethodPost, "/identity-keys/rotate", body, func(r identityRotation) error {
				now := a.io.Now()
				fmt.Fprintf(a.io.Out, "Rotated the identity key: tokens are signed with %s from now on.\n", clean(r.Current.KID))
				kv := []string{"Signing", clean(r.Current.KID), "Next", clean(r.Next.KID) + " (published now, signs from the next rotation)"}
				if r.Retired != nil {
					kv = append(kv, "Retired", clean(r.Retired.KID)+" (in the JWKS until "+whenPtr(r.Retired.PublishUntil, now, "–")+")")
				}
				if len(r.Deleted) > 0 {
					cl := make([]string, len(r.Deleted))
					for i, d := range r.Deleted {
						cl[i] = clean(d)
					}
					kv = append(kv, "Removed", strings.Join(cl, ", "))
				}
				return fields(a.io.Out, kv...)
			})
		}),
	}
	rotate.Flags().StringVar(&grace, "grace", "", "how long the old key stays in the JWKS, e.g. 24h or 7d (default: the gateway's identity.key_grace); 0s for a leaked key")
	return a.group("identity-key", "Manage the keys that sign X-Gatehouse-Identity",
		"The gateway signs X-Gatehouse-Identity, a short-lived JWT for upstreams that verify it, with an Ed25519\n"+
			"key kept in the store (sealed under the master key) and published at /.well-known/gatehouse/jwks.json.",
		ls, rotate)
}
