package provider

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/terraform"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

func findJoinToken(id string) (*configv1.JoinToken, error) {
	res, err := api.node.ListJoinTokens(bg, &configv1.ListJoinTokensRequest{})
	if err != nil {
		return nil, err
	}
	for _, t := range res.GetJoinTokens() {
		if t.GetId() == id {
			return t, nil
		}
	}
	return nil, fmt.Errorf("join token %s not in the API", id)
}

func TestJoinToken(t *testing.T) {
	acc(t)
	cfg := func(desc string) string {
		return fmt.Sprintf(`
resource "strata_partition" "p" { name = "tf-jt-part" }
resource "strata_cluster" "c" {
  name         = "tf-jt-cluster"
  partition_id = strata_partition.p.id
}
resource "strata_join_token" "t" {
  cluster_id   = strata_cluster.c.id
  auto_approve = true
  description  = %q
  ttl_seconds  = 3600
}`, desc)
	}
	var ids []string // every token the test's steps created
	live := func(desc string) func(*terraform.State) error {
		return func(s *terraform.State) error {
			id := stAttr(s, "strata_join_token.t", "id")
			ids = append(ids, id)
			jt, err := findJoinToken(id)
			if err != nil {
				return err
			}
			if err := want("description", jt.GetDescription(), desc); err != nil {
				return err
			}
			if err := want("cluster", jt.GetClusterId(), stAttr(s, "strata_cluster.c", "id")); err != nil {
				return err
			}
			if jt.GetRevoked() || !jt.GetAutoApprove() {
				return fmt.Errorf("token %s: revoked %v, auto_approve %v", id, jt.GetRevoked(), jt.GetAutoApprove())
			}
			// The secret nodes pass is "<id>.<secret>".
			if secret := stAttr(s, "strata_join_token.t", "token"); !strings.HasPrefix(secret, id+".") || len(secret) < len(id)+10 {
				return fmt.Errorf("token attribute %q is not %s.SECRET", secret, id)
			}
			if stAttr(s, "strata_join_token.t", "expires_at") != jt.GetExpiresAt().AsTime().UTC().Format("2006-01-02T15:04:05Z") {
				return fmt.Errorf("expires_at %s, API %s", stAttr(s, "strata_join_token.t", "expires_at"), jt.GetExpiresAt().AsTime())
			}
			return nil
		}
	}
	revoked := func(*terraform.State) error {
		for _, id := range ids {
			if jt, err := findJoinToken(id); err != nil || !jt.GetRevoked() {
				return fmt.Errorf("join token %s not revoked after destroy (%v)", id, err)
			}
		}
		return nil
	}
	test(t, revoked,
		step(cfg("first"), live("first")),
		// The API cannot change a token: a new one replaces it, the old one is revoked.
		replaceStep(cfg("second"), "strata_join_token.t", live("second"), func(*terraform.State) error {
			if jt, _ := findJoinToken(ids[0]); !jt.GetRevoked() {
				return fmt.Errorf("replaced token %s still admits nodes", ids[0])
			}
			return nil
		}),
		importStep("strata_join_token.t", stateID("strata_join_token.t"), "token", "ttl_seconds"),
		goneStep(cfg("second"), "strata_join_token.t", func() error {
			_, err := api.node.RevokeJoinToken(bg, &configv1.RevokeJoinTokenRequest{TokenId: ids[len(ids)-1]})
			return err
		}, live("second")),
	)
}

func TestNodesAndSnapshotData(t *testing.T) {
	acc(t)
	cfg := `
data "strata_nodes" "all" {}
resource "strata_partition" "p" { name = "tf-snap-part" }
data "strata_snapshot" "p" { partition = strata_partition.p.name }
output "node_names" { value = [for n in data.strata_nodes.all.nodes : n.name] }
`
	test(t, nil, step(cfg, func(s *terraform.State) error {
		nodes, err := api.config.ListNodes(bg, &configv1.ListNodesRequest{})
		if err != nil {
			return err
		}
		if err := want("nodes", stAttr(s, "data.strata_nodes.all", "nodes.#"), len(nodes.GetNodes())); err != nil {
			return err
		}
		for i, n := range nodes.GetNodes() {
			if err := want("node name", stAttr(s, "data.strata_nodes.all", fmt.Sprintf("nodes.%d.name", i)), n.GetNode().GetName()); err != nil {
				return err
			}
			if err := want("node cluster", stAttr(s, "data.strata_nodes.all", fmt.Sprintf("nodes.%d.cluster_id", i)), n.GetNode().GetClusterId()); err != nil {
				return err
			}
		}
		snap, err := api.config.GetSnapshot(bg, &configv1.GetSnapshotRequest{Partition: "tf-snap-part"})
		if err != nil {
			return err
		}
		if stAttr(s, "data.strata_snapshot.p", "json") == "" {
			return fmt.Errorf("snapshot json empty")
		}
		// A new partition's challenge key arrives a moment after the
		// partition (services/waf): the snapshot Terraform read may be the
		// one before it, never a later one.
		tfVersion, err := strconv.ParseUint(stAttr(s, "data.strata_snapshot.p", "version"), 10, 64)
		if err != nil || tfVersion > snap.GetVersion() {
			return fmt.Errorf("snapshot version: Terraform read %q, the API has %d since", stAttr(s, "data.strata_snapshot.p", "version"), snap.GetVersion())
		}
		if tfVersion < snap.GetVersion() {
			return nil
		}
		return want("snapshot consistent", stAttr(s, "data.strata_snapshot.p", "consistent"), snap.GetConsistent())
	}))
}
