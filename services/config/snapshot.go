package config

import (
	"errors"
	"fmt"
	"slices"

	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
)

// Snapshots and deltas
//
// A partition has two tracks: stable and staging. A track's snapshot holds the
// released, not deleted content of every app published to the partition (on
// the staging track the newest release of each app, on the stable track its
// newest non-staging release), with App.release set. Its version is the
// global log position of the newest release event that changed the track,
// so versions only grow, and equal versions mean equal content.
//
// Each release event that changes a track yields one delta for it:
// from_version (the track's previous version), to_version (the event's
// position), the app as upsert, or its id as delete when it left the
// partition or was deleted. A delta's size depends on the app changed, never
// on the number of apps in the partition.
//
// Snapshots are immutable: the projection keeps shared pointers to released
// app contents (which are never mutated) and builds a new snapshot value per
// version.

// Consistent checks what a node relies on: app ids unique, every app belongs
// to the snapshot's partition, no domain served by two apps, every rule's
// upstream reference resolves within its app.
func Consistent(s *syncv1.Snapshot) error {
	var errs []error
	ids := make(map[string]bool, len(s.Apps))
	domains := make(map[string]string)
	for _, a := range s.Apps {
		if ids[a.Id] {
			errs = append(errs, fmt.Errorf("app id %s appears twice", a.Id))
		}
		ids[a.Id] = true
		if !slices.Contains(a.PartitionIds, s.PartitionId) {
			errs = append(errs, fmt.Errorf("app %s is not published to partition %s", a.Id, s.PartitionId))
		}
		if a.Release == 0 {
			errs = append(errs, fmt.Errorf("app %s has no release number", a.Id))
		}
		for _, d := range a.Domains {
			if other, dup := domains[d]; dup && other != a.Id {
				errs = append(errs, fmt.Errorf("domain %s is served by apps %s and %s", d, other, a.Id))
			}
			domains[d] = a.Id
		}
		if msg := checkReferences(a); msg != "" {
			errs = append(errs, fmt.Errorf("app %s: %s", a.Id, msg))
		}
	}
	return errors.Join(errs...)
}
