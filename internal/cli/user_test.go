package cli

import (
	"os"
	"path/filepath"
	"testing"
)

// TestUserCommands: console users are created with the password from a
// file or stdin (never an argument, never printed), listed without it,
// disabled, enabled and given a new password; the API's refusals come
// through.
func TestUserCommands(t *testing.T) {
	e := newTestEnv(t)
	const pw = "correct horse battery staple"
	pwFile := filepath.Join(t.TempDir(), "pw.txt")
	if err := os.WriteFile(pwFile, []byte(pw+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.check(t, []cliCase{
		{desc: "setup", args: []string{"tenant", "create", "--slug", "acme"}},
		{desc: "create with the password from a file", args: []string{"user", "create", "--username", "alice", "--role", "tenant-admin", "--tenant", "acme", "--password-file", pwFile},
			out: []string{"Created user alice", "role tenant-admin"}, notOut: []string{pw}},
		{desc: "create with the password on stdin", args: []string{"user", "create", "--username", "bob", "--role", "viewer"},
			inv: invocation{stdin: pw + "\n"}, out: []string{"Created user bob"}, notOut: []string{pw}},
		{desc: "a password as an argument is refused unechoed", args: []string{"user", "create", "--username", "carl", "--role", "viewer", pw}, fail: true,
			errOut: []string{"never arguments"}, notOut: []string{pw}},
		{desc: "a short password: the API says why", args: []string{"user", "create", "--username", "dan", "--role", "viewer"},
			inv: invocation{stdin: "short\n"}, fail: true, errOut: []string{"400 admin.invalid", "at least 12"}},
		{desc: "tenant-admin needs a tenant", args: []string{"user", "create", "--username", "eve", "--role", "tenant-admin"}, fail: true,
			errOut: []string{"--role tenant-admin needs --tenant"}},
		{desc: "a taken username", args: []string{"user", "create", "--username", "alice", "--role", "viewer", "--password-file", pwFile}, fail: true,
			errOut: []string{"409 admin.conflict"}},
		{desc: "list without passwords", args: []string{"user", "list"}, out: []string{"USERNAME", "alice", "bob", "tenant-admin", "active"}, notOut: []string{pw, "argon2"}},
		{desc: "disable", args: []string{"user", "disable", "bob"}, out: []string{"User bob is disabled"}},
		{desc: "listed as disabled", args: []string{"user", "list", "-o", "json"}, out: []string{`"status": "disabled"`}, notOut: []string{pw, "password_hash"}},
		{desc: "enable", args: []string{"user", "enable", "bob"}, out: []string{"User bob may log in again."}},
		{desc: "a new password from stdin", args: []string{"user", "password", "bob"}, inv: invocation{stdin: pw + " 2\n"}, out: []string{"User bob has a new password."}, notOut: []string{pw}},
		{desc: "an unknown user", args: []string{"user", "disable", "nobody"}, fail: true, errOut: []string{"404 admin.not_found"}},
		{desc: "the audit masks the password", args: []string{"audit", "--resource", "user", "-o", "json"}, out: []string{"user.create", "[masked]"}, notOut: []string{pw}},
	})
}

// TestDeveloperUserCommands: a developer account is created bound to a
// consumer (by tenant-slug/name or id), listed with it and filtered by
// it; the CLI names a missing or misplaced --consumer before asking the
// API, and the API's refusals come through.
func TestDeveloperUserCommands(t *testing.T) {
	e := newTestEnv(t)
	const pw = "correct horse battery staple"
	e.check(t, []cliCase{
		{desc: "setup: a tenant", args: []string{"tenant", "create", "--slug", "shop"}},
		{desc: "setup: a consumer", args: []string{"consumer", "create", "--tenant", "shop", "--name", "checkout"}},
		{desc: "setup: another consumer", args: []string{"consumer", "create", "--tenant", "shop", "--name", "warehouse"}},
		{desc: "create a developer for a consumer", args: []string{"user", "create", "--username", "dev@shop", "--role", "developer", "--consumer", "shop/checkout"},
			inv: invocation{stdin: pw + "\n"}, out: []string{"Created user dev@shop", "role developer", "developer portal", "consumer con_"}, notOut: []string{pw}},
		{desc: "a developer needs --consumer", args: []string{"user", "create", "--username", "dev2", "--role", "developer"}, inv: invocation{stdin: pw + "\n"},
			fail: true, errOut: []string{"--role developer needs --consumer"}},
		{desc: "--consumer is for developers only", args: []string{"user", "create", "--username", "vic", "--role", "viewer", "--consumer", "shop/checkout"},
			inv: invocation{stdin: pw + "\n"}, fail: true, errOut: []string{"--consumer is for --role developer only"}},
		{desc: "an unknown consumer: the API says so", args: []string{"user", "create", "--username", "dev3", "--role", "developer", "--consumer", "shop/nope"},
			inv: invocation{stdin: pw + "\n"}, fail: true, errOut: []string{"404 admin.not_found", "nope"}},
		{desc: "listed with its consumer", args: []string{"user", "list"}, out: []string{"CONSUMER", "dev@shop", "developer", "con_"}, notOut: []string{pw}},
		{desc: "filtered by consumer", args: []string{"user", "list", "--consumer", "shop/checkout", "-o", "json"}, out: []string{`"username": "dev@shop"`, `"consumer": "con_`}},
		{desc: "another consumer has none", args: []string{"user", "list", "--consumer", "shop/warehouse"}, out: []string{"No users found."}, notOut: []string{"dev@shop"}},
		{desc: "disable a developer", args: []string{"user", "disable", "dev@shop"}, out: []string{"User dev@shop is disabled"}},
	})
}
