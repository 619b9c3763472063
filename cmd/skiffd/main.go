// Command skiffd runs skiff: `skiffd dev` for an all-in-one cluster on this
// host, or `skiffd server` and `skiffd agent` for the two halves.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/skiffhq/skiff/core/daemon/cmd"
)

func main() {
	// skiffd runs on every node beside the workloads: trade a little GC CPU
	// for a smaller heap (Go's default lets the heap reach twice the live
	// data). $GOGC still overrides this.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := cmd.NewRoot(os.Stdout, os.Stderr).ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		stop()
		os.Exit(1)
	}
}
