package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"gatehouse/internal/domain"
	"gatehouse/internal/keys"
)

// keyItem is a key as the admin API shows it: the stored metadata plus its
// status derived at read time (active, expired, revoked, rotating, rotated).
type keyItem struct {
	domain.APIKey
	Status string `json:"status"`
}

// createdKey is the answer to key creation and rotation: the key object plus
// the full key, which the API returns only then.
type createdKey struct {
	keyItem
	Key string `json:"key"`
}

// maxKeyFile bounds what `key import` reads: a key is a short string, and a
// mistaken --key-file /dev/zero must not exhaust memory.
const maxKeyFile = 64 << 10

const shownOnce = "This key is shown once — store it now. Gatehouse keeps only its hash and cannot show it again."

func (a *app) keyCmd() *cobra.Command {
	var kf keyFields
	var consumer string
	create := &cobra.Command{
		Use:   "create --consumer C [--env live|test] [--scopes a,b] [--expires 90d|RFC3339] [--name N]",
		Short: "Create an API key; the key is printed once",
		Long: "Create an API key for a consumer. The full key is printed once, here: Gatehouse stores only its\n" +
			"SHA-256 and last four characters, so copy it into your secret store now. With -o json the whole\n" +
			"object, including \"key\", is printed.",
		Example: "  gatehouse key create --consumer shop-mobile --scopes orders:read --expires 90d",
		RunE: a.run(spec{required: []string{"consumer"}}, func(ctx context.Context, c *client, _ []string) error {
			body, err := kf.body(consumer)
			if err != nil {
				return err
			}
			return object(ctx, a, c, http.MethodPost, "/keys", body, func(k createdKey) error {
				return a.showNewKey("Created", k)
			})
		}),
	}
	create.Flags().StringVar(&consumer, "consumer", "", "consumer id, name, or tenant-slug/name (required)")
	kf.add(create)

	var lf listFlags
	var byConsumer string
	ls := &cobra.Command{
		Use:   "list [--consumer C]",
		Short: "List API keys (never the keys themselves: id, last four characters, state)",
		RunE: a.run(spec{}, func(ctx context.Context, c *client, _ []string) error {
			q := url.Values{}
			if byConsumer != "" {
				q.Set("consumer", byConsumer)
			}
			now := a.io.Now()
			return list(ctx, a, c, listing[keyItem]{
				path: "/keys", plural: "keys",
				header: []string{"ID", "CONSUMER", "ENV", "STATE", "ENDS WITH", "SCOPES", "EXPIRES", "LAST USED"},
				row: func(k keyItem) []string {
					return []string{clean(k.ID), clean(k.ConsumerID), clean(k.Environment), keyState(k, now), "…" + clean(k.Last4),
						csv(k.Scopes), whenPtr(k.ExpiresAt, now, "never"), whenPtr(k.LastUsedAt, now, "never")}
				},
			}, q, lf)
		}),
	}
	ls.Flags().StringVar(&byConsumer, "consumer", "", "only this consumer's keys (id, name, or tenant-slug/name)")
	lf.add(ls)

	get := &cobra.Command{
		Use:   "get <id>",
		Short: "Show one API key's metadata (never the key)",
		RunE: a.run(spec{args: []string{"<id>"}}, func(ctx context.Context, c *client, args []string) error {
			id, err := a.keyRef(args[0])
			if err != nil {
				return err
			}
			return object(ctx, a, c, http.MethodGet, "/keys/"+pathEscape(id), nil, a.showKey)
		}),
	}

	var why string
	revoke := &cobra.Command{
		Use:     "revoke <id> --reason R",
		Short:   "Revoke an API key; it answers key.revoked (with when and why) from the next request on",
		Example: "  gatehouse key revoke 7Hq2xK9pLm3Q --reason compromised",
		RunE: a.run(spec{args: []string{"<id>"}, required: []string{"reason"}}, func(ctx context.Context, c *client, args []string) error {
			if strings.TrimSpace(why) == "" {
				return errors.New("--reason must not be empty: it is what the key's holder is told")
			}
			id, err := a.keyRef(args[0])
			if err != nil {
				return err
			}
			return object(ctx, a, c, http.MethodPost, "/keys/"+pathEscape(id)+"/revoke", map[string]string{"reason": why}, func(k keyItem) error {
				if k.ID == "" { // an API answering 200 with no body
					_, err := fmt.Fprintf(a.io.Out, "Key %s revoked: it now answers key.revoked.\n", clean(id))
					return err
				}
				fmt.Fprintf(a.io.Out, "Key %s revoked: it now answers key.revoked.\n", clean(k.ID))
				return a.showKey(k)
			})
		}),
	}
	revoke.Flags().StringVar(&why, "reason", "", "why (required); shown to a caller who presents the key with its right secret")

	var grace, rotExpires string
	rotate := &cobra.Command{
		Use:   "rotate <id> [--grace 24h]",
		Short: "Issue a successor key; the old one keeps working during the grace period",
		Long: "Issue a successor key, printed once. The old key keeps working until the grace period ends\n" +
			"(its responses carry Gatehouse-Credential-Rotated); after it, the old key answers key.rotated\n" +
			"naming the successor's id.",
		Example: "  gatehouse key rotate 7Hq2xK9pLm3Q --grace 7d",
		RunE: a.run(spec{args: []string{"<id>"}}, func(ctx context.Context, c *client, args []string) error {
			id, err := a.keyRef(args[0])
			if err != nil {
				return err
			}
			body := map[string]string{}
			if rotExpires != "" {
				k, v, err := expiry(rotExpires)
				if err != nil {
					return err
				}
				body[k] = v
			}
			if grace != "" {
				d, err := parseDuration(grace)
				if err != nil {
					return fmt.Errorf("--grace: %w", err)
				}
				if d < 0 {
					return fmt.Errorf("--grace %s is negative", grace)
				}
				body["grace"] = d.String()
			}
			return object(ctx, a, c, http.MethodPost, "/keys/"+pathEscape(id)+"/rotate", body, func(k createdKey) error {
				return a.showNewKey("Rotated key "+clean(or(k.Predecessor, id))+"; created successor", k)
			})
		}),
	}
	rotate.Flags().StringVar(&grace, "grace", "", "how long the old key keeps working, e.g. 24h or 7d; 0s ends it at once (default: the API's, 24h)")
	rotate.Flags().StringVar(&rotExpires, "expires", "", "the successor's expiry: a duration from now (90d) or an RFC 3339 time (default: the old key's lifetime again)")

	var imp keyFields
	var impConsumer, keyFile string
	imp0 := &cobra.Command{
		Use:   "import --consumer C --key-file F",
		Short: "Import an opaque key from another system (read from a file or stdin, never from the command line)",
		Long: "Import a key issued by another system (any opaque string) for a consumer, so its holders keep\n" +
			"using it. Gatehouse stores only its SHA-256 and looks it up by hash.\n\n" +
			"The key is read from --key-file (or from stdin with --key-file -), never from an argument:\n" +
			"arguments are visible to every user of the machine in ps and /proc, and are kept in shell\n" +
			"history. Surrounding whitespace and the trailing newline are removed.",
		Example: "  gatehouse key import --consumer shop-mobile --key-file old-key.txt\n" +
			"  vault kv get -field=key secret/shop | gatehouse key import --consumer shop-mobile --key-file -",
		RunE: a.run(spec{required: []string{"consumer", "key-file"}, extraArgs: "the key must not be an argument: arguments leak into ps and shell history. " +
			"Put it in a file and pass --key-file FILE, or pipe it with --key-file -"}, func(ctx context.Context, c *client, _ []string) error {
			key, err := a.readKey(keyFile)
			if err != nil {
				return err
			}
			body, err := imp.body(impConsumer)
			if err != nil {
				return err
			}
			body["key"] = key
			return object(ctx, a, c, http.MethodPost, "/keys/import", body, func(k keyItem) error {
				fmt.Fprintf(a.io.Out, "Imported key %s for consumer %s (ends with …%s). The key itself was not printed.\n",
					clean(k.ID), clean(k.ConsumerID), clean(k.Last4))
				return a.showKey(k)
			})
		}),
	}
	imp0.Flags().StringVar(&impConsumer, "consumer", "", "consumer id, name, or tenant-slug/name (required)")
	imp0.Flags().StringVar(&keyFile, "key-file", "", "file holding the key, or - for stdin (required)")
	imp.add(imp0)

	return a.group("key", "Manage API keys",
		"API keys (gk_<env>_<id>_<secret><check>) identify a consumer. A key is shown once, at creation or rotation.",
		create, ls, get, revoke, rotate, imp0)
}

// keyFields are the flags shared by key create and key import.
type keyFields struct {
	cmd                *cobra.Command
	env, expires, name string
	scopes, ipAllow    []string
}

func (f *keyFields) add(c *cobra.Command) {
	f.cmd = c
	c.Flags().StringVar(&f.env, "env", "", "environment: live or test; a gateway only accepts keys of its own (default: the gateway's)")
	c.Flags().StringSliceVar(&f.scopes, "scopes", nil, "scopes of this key, a subset of the consumer's, comma-separated (default: all of the consumer's; --scopes '' for none)")
	c.Flags().StringVar(&f.expires, "expires", "", "expiry: a duration from now (90d, 36h) or an RFC 3339 time (default: never)")
	c.Flags().StringVar(&f.name, "name", "", "a label for people, e.g. 'ci pipeline'")
	c.Flags().StringSliceVar(&f.ipAllow, "ip-allow", nil, "client IPs or CIDRs this key may be used from, comma-separated")
}

// body builds the JSON request of Appendix A from the flags. Scopes are
// sent only when given: the API reads an absent list as "all of the
// consumer's" and an empty one as "none".
func (f *keyFields) body(consumer string) (map[string]any, error) {
	b := map[string]any{"consumer": consumer}
	if f.env != "" {
		if f.env != domain.EnvLive && f.env != domain.EnvTest {
			return nil, fmt.Errorf("--env %q: use live or test", f.env)
		}
		b["environment"] = f.env
	}
	if f.cmd.Flags().Changed("scopes") {
		b["scopes"] = nonNil(f.scopes)
	}
	if f.expires != "" {
		k, v, err := expiry(f.expires)
		if err != nil {
			return nil, err
		}
		b[k] = v
	}
	if f.name != "" {
		b["name"] = f.name
	}
	if len(f.ipAllow) > 0 {
		b["ip_allow"] = f.ipAllow
	}
	return b, nil
}

// expiry turns --expires into the API's field: expires_at for an RFC 3339
// time, else expires_in, so "90d" counts from the gateway's clock rather
// than this machine's.
func expiry(s string) (field, value string, err error) {
	if t, err := time.Parse(time.RFC3339, strings.TrimSpace(s)); err == nil {
		return "expires_at", t.UTC().Format(time.RFC3339), nil
	}
	d, err := parseDuration(s)
	if err != nil {
		return "", "", fmt.Errorf("--expires %q is neither a duration (90d, 36h) nor an RFC 3339 time (2027-01-31T00:00:00Z)", s)
	}
	if d <= 0 {
		return "", "", fmt.Errorf("--expires %q must be a positive duration", s)
	}
	return "expires_in", d.String(), nil
}

// readKey reads an imported key from a file or, for "-", from stdin.
func (a *app) readKey(path string) (string, error) {
	var r io.Reader
	src := path
	if path == "-" {
		r, src = a.io.In, "stdin"
	} else {
		f, err := os.Open(path)
		if err != nil {
			return "", fmt.Errorf("reading the key: %w", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, maxKeyFile+1))
	if err != nil {
		return "", fmt.Errorf("reading the key from %s: %w", src, err)
	}
	if len(b) > maxKeyFile {
		return "", fmt.Errorf("%s holds more than %d bytes: is it really a key?", src, maxKeyFile)
	}
	key := string(bytes.TrimSpace(b))
	switch {
	case key == "":
		return "", fmt.Errorf("%s is empty: put the key in it (one line)", src)
	case strings.ContainsAny(key, "\r\n"):
		return "", fmt.Errorf("%s holds more than one line: put exactly one key in it", src)
	}
	return key, nil
}

// showNewKey prints a key that was just issued, with the full key on a line
// of its own (easy to select) and the shown-once warning.
func (a *app) showNewKey(what string, k createdKey) error {
	now := a.io.Now()
	exp := "never expires"
	if k.ExpiresAt != nil {
		exp = "expires " + when(*k.ExpiresAt, now)
	}
	fmt.Fprintf(a.io.Out, "%s key %s for consumer %s (%s, scopes %s, %s).\n\n", what, clean(k.ID), clean(k.ConsumerID), clean(k.Environment), csv(k.Scopes), exp)
	if k.Key == "" {
		fmt.Fprintln(a.io.Out, "    (the admin API returned no key)")
	} else {
		fmt.Fprintf(a.io.Out, "    %s\n", clean(k.Key))
	}
	_, err := fmt.Fprintf(a.io.Out, "\n%s\n", shownOnce)
	return err
}

func (a *app) showKey(k keyItem) error {
	now := a.io.Now()
	kv := []string{
		"ID", clean(k.ID),
		"Consumer", clean(k.ConsumerID),
		"Name", or(k.Name, "–"),
		"Environment", clean(k.Environment),
		"State", keyState(k, now),
		"Ends with", "…" + clean(k.Last4),
		"Scopes", csv(k.Scopes),
		"IP allow", or(csvOrEmpty(k.IPAllow), "any"),
		"Expires", whenPtr(k.ExpiresAt, now, "never"),
	}
	if k.Imported {
		kv = append(kv, "Imported", "yes (opaque key, looked up by hash)")
	}
	if k.RevokedAt != nil {
		kv = append(kv, "Revoked", when(*k.RevokedAt, now)+": "+or(k.RevokedReason, "no reason given"))
	}
	if k.Successor != "" {
		kv = append(kv, "Successor", clean(k.Successor), "Grace until", whenPtr(k.GraceUntil, now, "–"))
	}
	if k.Predecessor != "" {
		kv = append(kv, "Predecessor", clean(k.Predecessor))
	}
	kv = append(kv, "Created", when(k.CreatedAt, now), "Last used", whenPtr(k.LastUsedAt, now, "never"))
	return fields(a.io.Out, kv...)
}

// keyState is the key's status as the API derived it, or, from an API
// that sends none, as the gateway would judge it now.
func keyState(k keyItem, now time.Time) string {
	if k.Status != "" {
		return clean(k.Status)
	}
	switch {
	case k.RevokedAt != nil:
		return "revoked"
	case k.Successor != "" && k.GraceUntil != nil && now.Before(*k.GraceUntil):
		return "rotating"
	case k.Successor != "":
		return "rotated"
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		return "expired"
	default:
		return "active"
	}
}

// keyRef is the key id the admin API takes for arg. A whole key, secret
// included — pasted, most often, because it leaked and is being revoked —
// is turned into its id here, so the secret never leaves this machine (the
// admin API would refuse it in a URL anyway); a note on stderr says so.
func (a *app) keyRef(arg string) (string, error) {
	if !keys.LooksWhole(arg) {
		return arg, nil
	}
	id := keys.IDOf(arg)
	if id == "" {
		return "", errors.New("that argument looks like a whole API key, but its id cannot be read from it: give the key's id " +
			"(the 12 characters after gk_<env>_; gatehouse key list shows them)")
	}
	fmt.Fprintf(a.io.Err, "Note: that is a whole API key; using its id %s (the secret is not sent).\n", id)
	return id, nil
}
