// Command gatehouse is the Gatehouse binary: the gateway (serve,
// quickstart) and its admin CLI. Flags and subcommands only: everything
// else lives under internal/.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	_ "net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"

	"gatehouse/internal/cli"
	"gatehouse/internal/config"
	"gatehouse/internal/server"
)

// version is set by -ldflags "-X main.version=…"; otherwise the module
// build info is used.
var version = ""

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	root := &cobra.Command{
		Use:           "gatehouse",
		Short:         "Gatehouse: an API gateway and AI gateway where no rejected call is a mystery",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(serveCmd(stdout, stderr), quickstartCmd(stdout, stderr), versionCmd(stdout), migrateCmd(stdout))
	root.AddCommand(cli.Commands(cli.IO{Out: stdout, Err: stderr, Getenv: os.Getenv})...)
	if err := root.Execute(); err != nil {
		if !errors.Is(err, cli.ErrReported) {
			fmt.Fprintln(stderr, "gatehouse:", err)
		}
		return 1
	}
	return 0
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "dev"
}

func versionCmd(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(stdout, "gatehouse", buildVersion())
			return err
		},
	}
}

func newLogger(w io.Writer, cfg config.Config) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.LogLevel))
	o := &slog.HandlerOptions{Level: lvl}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, o))
	}
	return slog.New(slog.NewTextHandler(w, o))
}

func serveCmd(stdout, stderr io.Writer) *cobra.Command {
	var cfgPath, readyFile string
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run the gateway (proxy and admin listeners)",
		Long: `Run the gateway. Configuration comes from --config (YAML) and the GATEHOUSE_*
environment (GATEHOUSE_PROXY_ADDR, GATEHOUSE_ADMIN_ADDR, GATEHOUSE_DATABASE_URL,
GATEHOUSE_ENVIRONMENT, GATEHOUSE_ADMIN_TOKEN). On first start without
GATEHOUSE_ADMIN_TOKEN, an admin token is generated and printed once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath, os.Getenv)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			log := newLogger(stderr, cfg)
			srv, err := server.New(ctx, cfg, server.Options{Logger: log, Stdout: stdout,
				AdminToken: os.Getenv("GATEHOUSE_ADMIN_TOKEN"), ReadyFile: readyFile})
			if err != nil {
				return err
			}
			// After the first snapshot: its size is most of the live heap.
			tuneGC(ctx, os.Getenv("GOGC"))
			if err := srv.Listen(); err != nil {
				_ = srv.Close()
				return err
			}
			if addr := os.Getenv("GATEHOUSE_PPROF_ADDR"); addr != "" {
				// Profiling on its own listener, only when asked for (it
				// exposes internals): go tool pprof http://ADDR/debug/pprof/profile
				go func() {
					log.Warn("pprof listening", "addr", addr, "err", http.ListenAndServe(addr, http.DefaultServeMux))
				}()
			}
			if srv.GeneratedToken != "" {
				fmt.Fprintf(stdout, "Admin token (shown once, only its hash is stored): %s\n", srv.GeneratedToken)
			}
			return srv.Serve(ctx)
		},
	}
	c.Flags().StringVar(&cfgPath, "config", "", "path to gatehouse.yaml (optional: defaults and environment otherwise)")
	c.Flags().StringVar(&readyFile, "ready-file", "", `write {"proxy":"host:port","admin":"host:port"} here once serving`)
	return c
}

func migrateCmd(stdout io.Writer) *cobra.Command {
	var cfgPath string
	c := &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending schema migrations, one by one, with progress",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath, os.Getenv)
			if err != nil {
				return err
			}
			return server.Migrate(cmd.Context(), cfg.Database, stdout)
		},
	}
	c.Flags().StringVar(&cfgPath, "config", "", "path to gatehouse.yaml (the database URL; or GATEHOUSE_DATABASE_URL)")
	return c
}
