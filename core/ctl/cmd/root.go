package cmd

import (
	"github.com/spf13/cobra"
)

// NewRootCommand builds skiffctl. newFactory turns the global flags into
// the Factory the verbs use (NewFactory for the real binary, a fake in
// tests). Errors are returned, not printed: see PrintError.
func NewRootCommand(streams IOStreams, newFactory func(*ConfigFlags) Factory) *cobra.Command {
	flags := &ConfigFlags{}
	f := newFactory(flags)
	root := &cobra.Command{
		Use:   "skiffctl",
		Short: "skiffctl controls a skiff cluster",
		Long: `skiffctl controls a skiff cluster. Its verbs, flags and output follow kubectl,
and it takes ordinary Kubernetes v1 manifests.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	flags.AddFlags(root.PersistentFlags())
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &UsageError{Cmd: c.CommandPath(), Msg: err.Error()}
	})
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(
		NewCmdApply(f, streams),
		NewCmdRun(f, streams),
		NewCmdExpose(f, streams),
		NewCmdCreate(f, streams),
		NewCmdGet(f, streams),
		NewCmdDelete(f, streams),
		NewCmdDescribe(f, streams),
		NewCmdLogs(f, streams),
		NewCmdExec(f, streams),
		NewCmdPortForward(f, streams),
		NewCmdImage(f, streams),
		NewCmdPlugin(f, streams),
		NewCmdEtcd(f, streams),
		NewCmdToken(f, flags, streams),
		NewCmdCertificate(f, streams),
		NewCmdConfig(flags, streams),
		NewCmdVersion(f, streams),
		NewCmdCluster(streams),
	)
	return root
}

// requireArgs is cobra.MinimumNArgs with kubectl's usage error.
func requireArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return usageErrorf(cmd.CommandPath(), "%s", what)
		}
		return nil
	}
}

// exactArgs wants exactly n positional arguments, named by what.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usageErrorf(cmd.CommandPath(), "want %s, got %d arguments", what, len(args))
		}
		return nil
	}
}

// noArgs rejects positional arguments.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageErrorf(cmd.CommandPath(), "unexpected arguments: %v", args)
	}
	return nil
}
