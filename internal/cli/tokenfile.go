package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/gen/strata/config/v1/configv1connect"
	"github.com/strata-edge/strata/internal/cli/clientx"
	"github.com/strata-edge/strata/pkg/secretfile"
)

// Join tokens in files: a setup step writes one (node token create --out),
// a node started later reads it (node --join-token-file). Compose stacks
// hand tokens over this way, with no shell in the image.

func writeTokenFile(w io.Writer, path, token string) error {
	if err := secretfile.Write(path, []byte(token+"\n")); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	return clientx.Line(w, "wrote %s", path)
}

func readJoinTokenFile(path string) (string, error) {
	b, err := secretfile.Read(path)
	if err != nil {
		return "", fmt.Errorf("--join-token-file: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("--join-token-file: %s is empty", path)
	}
	return token, nil
}

// ensureCluster creates the cluster named name in the default partition
// unless a cluster has that name (or id) already.
func ensureCluster(cmd *cobra.Command, g *globals, name string) error {
	list, err := clientx.Call(cmd.Context(), g, g.configClient, clientx.Pages(configv1connect.ConfigServiceClient.ListClusters, &configv1.ListClustersRequest{}, nil))
	if err != nil {
		return err
	}
	for _, c := range list.GetClusters() {
		if c.GetName() == name || c.GetId() == name {
			return nil
		}
	}
	_, err = clientx.Call(cmd.Context(), g, g.configClient, clientx.RPC(configv1connect.ConfigServiceClient.CreateCluster, &configv1.CreateClusterRequest{Name: name, Partition: "default"}))
	return err
}
