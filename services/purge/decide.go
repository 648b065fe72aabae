package purge

import (
	"fmt"
	"slices"
	"time"

	ev "github.com/strata-edge/strata/gen/strata/events/purge/v1"
	purgev1 "github.com/strata-edge/strata/gen/strata/purge/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/authz"
)

// The decisions of the purge commands, apart from the lookups the service
// makes (partitions, node status): each returns the event to record or the
// refusal. Acknowledgements are decided by the model (addAck: the first one
// per node counts).

// requested decides CreatePurge of a checked request (checkRequest) whose
// scope has partitions parts: the purge waits for the nodes online now
// (online: node id -> partition id) in one of them.
func requested(id string, req *purgev1.CreatePurgeRequest, parts []string, online map[string]string, now time.Time) *ev.PurgeRequested {
	var expected []string
	for node, p := range online {
		if slices.Contains(parts, p) {
			expected = append(expected, node)
		}
	}
	slices.Sort(expected)
	cmd := &purgev1.PurgeCommand{PurgeId: id, Kind: req.GetKind(), Values: req.GetValues(),
		Condition: req.GetCondition(), Soft: req.GetSoft(), RequestedAt: timestamp(now)}
	return &ev.PurgeRequested{PurgeId: id, Command: cmd, Scope: req.GetScope(), PartitionIds: parts, ExpectedNodeIds: expected}
}

// appPartitions are the partitions of app (its resolved parents), sorted; an
// app in no partition has nothing to purge.
func appPartitions(app string, parents []authz.Object) ([]string, error) {
	var parts []string
	for _, p := range parents {
		if p.Kind == authz.KindPartition && !slices.Contains(parts, p.ID) {
			parts = append(parts, p.ID)
		}
	}
	if len(parts) == 0 {
		return nil, apierr.FailedPrecondition(fmt.Sprintf("app %s is in no partition: nothing to purge", app))
	}
	slices.Sort(parts)
	return parts, nil
}

// acknowledged is the event recording a batch of first acknowledgements of
// purge id (oldest first), and the actor it names.
func acknowledged(id string, acks []*purgev1.NodeAck) (*ev.PurgeAcknowledged, string) {
	first := acks[0]
	actor := "node:" + first.GetNodeId()
	if len(acks) > 1 {
		actor = fmt.Sprintf("%s and %d more nodes", actor, len(acks)-1)
	}
	return &ev.PurgeAcknowledged{PurgeId: id, Ack: first, Acks: acks[1:]}, actor
}
