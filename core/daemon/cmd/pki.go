package cmd

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/skiffhq/skiff/core/apiserver"
)

// newPKI is `skiffd pki init`: the cluster CA and the Secrets encryption
// keys, made without starting anything (kubeadm's `init phase certs`), so
// that the servers of an HA control plane can share them before any of
// them first starts.
func newPKI(out io.Writer) *cobra.Command {
	root := &cobra.Command{Use: "pki", Short: "The keys the servers of one cluster share"}
	var dataDir string
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Make the cluster CA and the Secrets encryption keys that every server of the cluster must have before its first start",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			dir := filepath.Join(dataDir, "pki")
			existed := map[string]bool{}
			for _, f := range apiserver.ClusterKeyFiles {
				_, err := os.Stat(filepath.Join(dir, f))
				existed[f] = err == nil
				if err != nil && !errors.Is(err, os.ErrNotExist) {
					return fmt.Errorf("%s: %w", filepath.Join(dir, f), err)
				}
			}
			if _, _, err := apiserver.LoadOrCreateClusterKeys(dir); err != nil {
				return err
			}
			for _, f := range apiserver.ClusterKeyFiles {
				verb := "made"
				if existed[f] {
					verb = "kept"
				}
				fmt.Fprintf(out, "%s %s\n", verb, filepath.Join(dir, f))
			}
			fmt.Fprintf(out, "Copy these files to <data-dir>/pki/ of every other server of the cluster before its first start.\n"+
				"Keep them secret: ca.key signs every identity in the cluster, and the encryption keys read every Secret.\n")
			return nil
		},
	}
	initCmd.Flags().StringVar(&dataDir, "data-dir", "/var/lib/skiff", "the data directory of the server that will use them (files go to DIR/pki)")
	root.AddCommand(initCmd)
	return root
}
