package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"testing"
	"time"

	"gatehouse/internal/identity"
	"gatehouse/internal/secrets"
	"gatehouse/internal/store"
)

// TestServiceIdentityJWTFlags: service create and update's
// --identity-jwt* flags reach the admin API, whose validation errors name
// the field; service get shows the setting.
func TestServiceIdentityJWTFlags(t *testing.T) {
	e := newTestEnv(t)
	e.check(t, []cliCase{
		{desc: "setup tenant", args: []string{"tenant", "create", "--slug", "acme"}},
		{desc: "create with the defaults", args: []string{"service", "create", "--tenant", "acme", "--name", "orders",
			"--target", "http://127.0.0.1:9000", "--identity-jwt"},
			out: []string{"Created service orders", "Identity JWT:", "on (aud orders, ttl 1m0s)"}},
		{desc: "create with audience and ttl (implying --identity-jwt)", args: []string{"service", "create", "--tenant", "acme", "--name", "billing",
			"--target", "http://127.0.0.1:9000", "--identity-jwt-audience", "https://billing.internal", "--identity-jwt-ttl", "2m"},
			out: []string{"on (aud https://billing.internal, ttl 2m0s)"}},
		{desc: "a ttl out of bounds: the API names the field", args: []string{"service", "create", "--tenant", "acme", "--name", "x",
			"--target", "http://127.0.0.1:9000", "--identity-jwt-ttl", "5s"},
			fail: true, errOut: []string{`identity_jwt.ttl "5s" must be from 10s to 1h`}},
		{desc: "a service without it shows none", args: []string{"service", "create", "--tenant", "acme", "--name", "plain",
			"--target", "http://127.0.0.1:9000"}, out: []string{"Created service plain"}, notOut: []string{"Identity JWT"}},
		{desc: "update turns it on", args: []string{"service", "update", "plain", "--identity-jwt", "--identity-jwt-ttl", "30s"},
			out: []string{"Updated service plain", "on (aud plain, ttl 30s)"}},
		{desc: "update turns it off, keeping the settings", args: []string{"service", "update", "plain", "--identity-jwt=false"},
			out: []string{"off (aud plain, ttl 30s)"}},
		{desc: "update changes the audience only", args: []string{"service", "update", "plain", "--identity-jwt-audience", "plain-api"},
			out: []string{"on (aud plain-api, ttl 30s)"}},
		{desc: "get shows it", args: []string{"service", "get", "plain"}, out: []string{"Identity JWT:", "on (aud plain-api, ttl 30s)"}},
		{desc: "update removes it", args: []string{"service", "update", "plain", "--no-identity-jwt"},
			out: []string{"Updated service plain"}, notOut: []string{"Identity JWT"}},
		{desc: "update without a change is refused before sending", args: []string{"service", "update", "plain"},
			fail: true, errOut: []string{"nothing to change"}},
		{desc: "--no-identity-jwt with another identity flag", args: []string{"service", "update", "plain", "--no-identity-jwt", "--identity-jwt-ttl", "1m"},
			fail: true, errOut: []string{"--no-identity-jwt removes the settings"}},
		{desc: "an audience with a space: the API names the field", args: []string{"service", "update", "orders", "--identity-jwt-audience", "a b"},
			fail: true, errOut: []string{`identity_jwt.audience "a b" contains whitespace`}},
	})
}

// TestServiceLifecycleFlags: service update's --lifecycle, --sunset and
// --successor reach the admin API (whose validation names the field) and
// leave the identity token alone; service get shows the lifecycle.
func TestServiceLifecycleFlags(t *testing.T) {
	e := newTestEnv(t)
	e.check(t, []cliCase{
		{desc: "setup tenant", args: []string{"tenant", "create", "--slug", "acme"}},
		{desc: "a service with an identity token", args: []string{"service", "create", "--tenant", "acme", "--name", "orders",
			"--target", "http://127.0.0.1:9000", "--identity-jwt"}, out: []string{"Created service orders"}},
		{desc: "its successor", args: []string{"service", "create", "--tenant", "acme", "--name", "orders-v2",
			"--target", "http://127.0.0.1:9000"}, out: []string{"Created service orders-v2"}},
		{desc: "deprecated needs a sunset: the API says so", args: []string{"service", "update", "orders", "--lifecycle", "deprecated"},
			fail: true, errOut: []string{"sunset is required with lifecycle deprecated"}},
		{desc: "deprecate", args: []string{"service", "update", "orders", "--lifecycle", "deprecated", "--sunset", "2027-06-30T00:00:00Z", "--successor", "orders-v2"},
			out: []string{"Updated service orders", "Lifecycle:", "deprecated, sunset 2027-06-30T00:00:00Z, successor svc_", "Identity JWT:", "on (aud orders"}},
		{desc: "retire", args: []string{"service", "update", "orders", "--lifecycle", "retired"}, out: []string{"Lifecycle:", "retired"}},
		{desc: "get shows it", args: []string{"service", "get", "orders"}, out: []string{"Lifecycle:", "retired", "Identity JWT:"}},
	})
}

// TestIdentityKeyCommands: identity-key list and rotate against the real
// admin API, tables for people and the API's JSON with -o json, never any
// private key material.
func TestIdentityKeyCommands(t *testing.T) {
	e := newSecretsTestEnv(t)
	box, err := secrets.New(bytes.Repeat([]byte{7}, secrets.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	created, err := identity.EnsureKey(context.Background(), e.store, box, t0)
	if err != nil {
		t.Fatal(err)
	}
	cur, next := created[0].KID, created[1].KID
	var material []string
	for _, k := range created {
		seed, err := box.Open(k.PrivateKey)
		if err != nil {
			t.Fatal(err)
		}
		material = append(material, k.PrivateKey, base64.RawURLEncoding.EncodeToString(seed), base64.StdEncoding.EncodeToString(seed), fmt.Sprintf("%x", seed))
	}
	e.check(t, []cliCase{
		{desc: "list", args: []string{"identity-key", "list"}, out: []string{"KID", "STATE", "IN JWKS", cur, "current", next, "next"}, notOut: material},
		{desc: "list as JSON", args: []string{"identity-key", "list", "-o", "json"}, out: []string{`"kid": "` + cur, `"jwk": {`}, notOut: material},
		{desc: "a bad grace: the API names it", args: []string{"identity-key", "rotate", "--grace", "soon"}, fail: true, errOut: []string{`grace "soon"`}},
		{desc: "rotate", args: []string{"identity-key", "rotate", "--grace", "2h"},
			out: []string{"tokens are signed with " + next + " from now on", "Signing:", "Retired:", cur, "in the JWKS until 2026-11-20T12:00:00Z"}, notOut: material},
		{desc: "the old key is previous", args: []string{"identity-key", "list"}, out: []string{cur, "previous"}},
		{desc: "rotate as JSON", args: []string{"identity-key", "rotate", "-o", "json"}, out: []string{`"current": {`, `"retired": {`, `"kid": "` + next}},
		{desc: "verbs are listed for an unknown one", args: []string{"identity-key", "renew"}, fail: true, errOut: []string{"verbs: list, rotate"}},
	})
	e.clock.Set(t0.Add(3 * time.Hour))
	var keys struct{ Items []identity.KeyView }
	e.mustJSON(&keys, "identity-key", "list")
	states := map[string]string{}
	for _, k := range keys.Items {
		states[k.KID] = k.State
	}
	if states[cur] != identity.StateExpired || states[next] != "previous" {
		t.Errorf("states %v: want the first key expired after its 2h grace, the second previous", states)
	}
	err = e.store.View(context.Background(), func(tx store.Tx) error {
		all, err := tx.(store.IdentityKeyTx).ListIdentityKeys(context.Background())
		if len(all) != 4 {
			t.Errorf("%d stored keys after two rotations, want 4", len(all))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
