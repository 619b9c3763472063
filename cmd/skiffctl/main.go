// Command skiffctl drives a skiff cluster with kubectl's verbs and output.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	ctlcmd "github.com/skiffhq/skiff/core/ctl/cmd"
)

func main() {
	os.Exit(run())
}

func run() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	streams := ctlcmd.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	root := ctlcmd.NewRootCommand(streams, ctlcmd.NewFactory)
	return ctlcmd.PrintError(os.Stderr, root.ExecuteContext(ctx))
}
