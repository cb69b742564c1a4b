// Command gen writes docs/errors.md from the reason catalogue.
package main

import (
	"fmt"
	"os"

	"gatehouse/internal/reason"
)

func main() {
	out := "docs/errors.md"
	if len(os.Args) > 1 {
		out = os.Args[1]
	}
	if err := os.WriteFile(out, reason.Markdown(), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
