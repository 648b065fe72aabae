package config

import (
	"errors"
	"fmt"
	"slices"

	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
)

// Snapshots and deltas: the tracks, versions and deltas are
// services/edgesync's (docs/architecture.md). On the stable track an app is
// its newest non-staging release, on the staging track its newest release,
// with App.release set.

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
