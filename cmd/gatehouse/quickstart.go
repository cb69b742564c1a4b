package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"gatehouse/internal/server"
)

func quickstartCmd(stdout, stderr io.Writer) *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:   "quickstart",
		Short: "Run the gateway with a demo upstream, tenant, service, route, consumer and keys",
		Long: `Start Gatehouse on the embedded store (a fresh database under --dir), with a
built-in demo upstream and demo objects, and print curl commands that work as
printed: one call that passes and rejections that say exactly why. Proxy on
127.0.0.1:8080 and admin on 127.0.0.1:8081 when free, other free ports if not
(GATEHOUSE_PROXY_ADDR and GATEHOUSE_ADMIN_ADDR choose them).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return server.Quickstart(ctx, server.QuickstartOptions{Dir: dir, Stdout: stdout, Stderr: stderr,
				Command:   selfCommand(os.Args[0]),
				ProxyAddr: os.Getenv("GATEHOUSE_PROXY_ADDR"), AdminAddr: os.Getenv("GATEHOUSE_ADMIN_ADDR")})
		},
	}
	c.Flags().StringVar(&dir, "dir", "./gatehouse-data/quickstart", "data directory (recreated on every run)")
	return c
}

// selfCommand is how the printed commands run this binary again: "go run
// ./cmd/gatehouse" when it was started that way (the binary is in go run's
// build cache), else the path it was started by (a built binary, from any
// directory).
func selfCommand(arg0 string) string {
	if arg0 == "" || strings.Contains(filepath.ToSlash(arg0), "/go-build") {
		return "go run ./cmd/gatehouse"
	}
	if !strings.ContainsRune(arg0, filepath.Separator) {
		return arg0 // found on PATH
	}
	if abs, err := filepath.Abs(arg0); err == nil {
		return abs
	}
	return arg0
}
