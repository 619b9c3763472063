package cmd

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/skiffhq/skiff/core/api"
	"github.com/skiffhq/skiff/core/api/apipb"
	"github.com/skiffhq/skiff/core/ctl/printers"
	"github.com/skiffhq/skiff/core/version"
)

// VersionInfo is one side of `version -o json|yaml`.
type VersionInfo struct {
	GitVersion string `json:"gitVersion"`
	GitCommit  string `json:"gitCommit,omitempty"`
	GoVersion  string `json:"goVersion"`
}

// versionOutput is the document `version -o json|yaml` prints.
type versionOutput struct {
	ClientVersion *VersionInfo `json:"clientVersion,omitempty"`
	ServerVersion *VersionInfo `json:"serverVersion,omitempty"`
}

// VersionOptions are the options of `skiffctl version`.
type VersionOptions struct {
	IOStreams
	f Factory

	ClientOnly bool
	Output     string
}

// NewCmdVersion returns `skiffctl version`.
func NewCmdVersion(f Factory, streams IOStreams) *cobra.Command {
	o := &VersionOptions{IOStreams: streams, f: f}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the client and server version information",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Output != "" && o.Output != "yaml" && o.Output != "json" {
				return fmt.Errorf("--output must be 'yaml' or 'json'")
			}
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().BoolVar(&o.ClientOnly, "client", false, "If true, shows client version only (no server required).")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "One of 'yaml' or 'json'.")
	return cmd
}

// Run prints the versions; the client's is printed even when the server
// cannot be reached.
func (o *VersionOptions) Run(ctx context.Context) error {
	out := versionOutput{ClientVersion: &VersionInfo{GitVersion: version.Version, GitCommit: version.GitCommit, GoVersion: runtime.Version()}}
	var serverErr error
	if !o.ClientOnly {
		out.ServerVersion, serverErr = o.serverVersion(ctx)
	}
	if err := o.print(out); err != nil {
		return err
	}
	return serverErr
}

func (o *VersionOptions) serverVersion(ctx context.Context) (*VersionInfo, error) {
	c, err := o.f.Client()
	if err != nil {
		return nil, err
	}
	v, err := c.API.Version(ctx, &apipb.VersionRequest{})
	if err != nil {
		return nil, api.FromGRPC(err)
	}
	return &VersionInfo{GitVersion: v.Version, GitCommit: v.GitCommit, GoVersion: v.GoVersion}, nil
}

func (o *VersionOptions) print(v versionOutput) error {
	switch o.Output {
	case "json":
		data, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return fmt.Errorf("encode version: %w", err)
		}
		_, err = fmt.Fprintln(o.Out, string(data))
		return err
	case "yaml":
		data, err := printers.ToYAML(v)
		if err != nil {
			return err
		}
		_, err = o.Out.Write(data)
		return err
	}
	fmt.Fprintf(o.Out, "Client Version: %s\n", v.ClientVersion.GitVersion)
	if v.ServerVersion != nil {
		fmt.Fprintf(o.Out, "Server Version: %s\n", v.ServerVersion.GitVersion)
	}
	return nil
}
