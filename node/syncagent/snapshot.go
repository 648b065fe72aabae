package syncagent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	syncv1 "github.com/strata-edge/strata/gen/strata/sync/v1"
	"github.com/strata-edge/strata/pkg/natsutil"
)

// resync installs the Object Store snapshot when it is newer than what runs.
// resumeSeq is where the consumer continues after it: every delta before it
// ends at or below the running version, hence at or below the snapshot's.
// It returns errRestart after installing one, and an error when the snapshot
// does not move the node forward yet (the run loop backs off and retries).
func (a *Agent) resync(ctx context.Context, resumeSeq, wanted uint64) error {
	before := a.cur.GetVersion()
	if err := a.refreshSnapshot(ctx, resumeSeq-1); err != nil {
		return err
	}
	if a.cur.GetVersion() == before {
		return fmt.Errorf("delta at stream seq %d (to version %d) does not follow version %d, and the snapshot is not newer yet", resumeSeq, wanted, before)
	}
	return errRestart
}

// refreshSnapshot installs the Object Store snapshot if it changed since the
// last look and is newer than the running version.
func (a *Agent) refreshSnapshot(ctx context.Context, streamSeq uint64) error {
	snap, digest, err := a.fetchSnapshot(ctx)
	if err != nil || snap == nil {
		return err
	}
	if snap.GetVersion() > a.cur.GetVersion() {
		if err := a.installSnapshot(snap, streamSeq); err != nil {
			return err
		}
	} else {
		a.log.Debug("snapshot not newer than the running version", "snapshot", snap.GetVersion(), "running", a.cur.GetVersion())
	}
	a.lastDigest = digest
	return nil
}

// fetchSnapshot reads the track's snapshot from the Object Store. It returns
// nil (and no error) when there is none, or when its digest equals the last
// one handled.
func (a *Agent) fetchSnapshot(ctx context.Context) (*syncv1.Bundle, string, error) {
	bucket, key := natsutil.SnapshotBucket(a.opts.PartitionID), natsutil.SnapshotKey(a.opts.Staging)
	for attempt := 1; ; attempt++ {
		snap, digest, err := a.fetchSnapshotOnce(ctx, key)
		if errors.Is(err, errSnapshotReplaced) && attempt < 3 {
			a.log.Debug("snapshot replaced while downloading it; reading the new one")
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("snapshot %s/%s: %w", bucket, key, err)
		}
		return snap, digest, nil
	}
}

// errSnapshotReplaced: the control plane put a newer snapshot while the
// agent was reading the previous one, whose chunks are then purged.
var errSnapshotReplaced = errors.New("replaced while downloading")

func (a *Agent) fetchSnapshotOnce(ctx context.Context, key string) (*syncv1.Bundle, string, error) {
	if obs, err := a.bucket(ctx); obs == nil || err != nil {
		return nil, "", err
	}
	ictx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	info, err := a.obs.GetInfo(ictx, key)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, "", nil
	}
	if err != nil {
		a.obs = nil // the bucket may have been recreated
		return nil, "", fmt.Errorf("info: %w", err)
	}
	if info.Digest != "" && info.Digest == a.lastDigest {
		return nil, "", nil
	}
	if v, err := strconv.ParseUint(info.Metadata[SnapshotVersionMeta], 10, 64); err == nil && a.cur != nil && v <= a.cur.GetVersion() {
		// Not newer: no need to download it.
		return nil, "", nil
	}
	data, digest, err := a.download(ctx, key, info)
	if err != nil {
		return nil, "", err
	}
	snap := &syncv1.Bundle{}
	if err := proto.Unmarshal(data, snap); err != nil {
		return nil, "", fmt.Errorf("decode: %w", err)
	}
	if snap.GetPartitionId() != a.opts.PartitionID || snap.GetStaging() != a.opts.Staging {
		return nil, "", fmt.Errorf("holds partition_id %q staging %v", snap.GetPartitionId(), snap.GetStaging())
	}
	return snap, digest, nil
}

// download reads the object described by info. The read is bounded by a
// timeout that grows with the size (at least snapshotBandwidth), abandoned
// at once when ctx ends (the client's object reader only honours
// deadlines), and abandoned with errSnapshotReplaced when the object is
// replaced meanwhile.
func (a *Agent) download(ctx context.Context, key string, info *jetstream.ObjectInfo) ([]byte, string, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout+time.Duration(info.Size/snapshotBandwidth)*time.Second)
	defer cancel()
	res, err := a.obs.Get(ctx, key)
	if err != nil {
		return nil, "", fmt.Errorf("get: %w", err)
	}
	reading := info
	if ri, err := res.Info(); err == nil {
		reading = ri
	}
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		defer res.Close()
		data, err := io.ReadAll(res)
		done <- result{data, err}
	}()
	check := time.NewTicker(snapshotReplacedCheck)
	defer check.Stop()
	for {
		select {
		case r := <-done:
			if r.err != nil {
				return nil, "", fmt.Errorf("read: %w", r.err)
			}
			return r.data, reading.Digest, nil
		case <-check.C:
			ictx, icancel := context.WithTimeout(ctx, requestTimeout)
			now, err := a.obs.GetInfo(ictx, key)
			icancel()
			if err == nil && now.NUID != reading.NUID {
				return nil, "", errSnapshotReplaced
			}
		case <-ctx.Done():
			return nil, "", fmt.Errorf("read: %w", ctx.Err())
		}
	}
}

// installSnapshot stores snap (in one transaction) and applies it.
func (a *Agent) installSnapshot(snap *syncv1.Bundle, streamSeq uint64) error {
	if err := a.opts.Store.SaveBundle(snap, streamSeq); err != nil {
		a.refuse(err)
		return err
	}
	stored, _, err := a.opts.Store.Load()
	if err != nil {
		return err
	}
	a.log.Info("installed snapshot", "version", stored.GetVersion(), "from", a.cur.GetVersion(), "apps", len(stored.GetApps()))
	a.cur, a.seq = stored, streamSeq
	a.stats.snapshots.Add(1)
	a.install(stored)
	return nil
}

// install hands snap to Apply and reports the outcome.
func (a *Agent) install(snap *syncv1.Snapshot) {
	err := a.opts.Apply(snap)
	a.mu.Lock()
	a.applyErr = err
	if err == nil {
		a.appliedAt = time.Now()
		a.version.Store(snap.GetVersion())
	}
	a.mu.Unlock()
	if err != nil {
		a.stats.applyErrors.Add(1)
		a.log.Error("apply rejected the snapshot; still running the previous one", "version", snap.GetVersion(), "err", err)
	}
	a.publishStatus()
}

// refuse reports a bundle or delta the store did not take: one side must be
// upgraded (store.ErrUpgrade), or the write failed (disk full, I/O error).
// The node keeps running what it runs, says so in its status (apply_error,
// shown by strata node list) and retries; the next accepted version clears
// it.
func (a *Agent) refuse(err error) {
	a.mu.Lock()
	a.applyErr = err
	a.mu.Unlock()
	a.stats.applyErrors.Add(1)
	a.log.Error("could not store what the control plane sent; still running the previous version", "err", err)
	a.publishStatus()
}

// markSynced records the first catch-up.
func (a *Agent) markSynced() {
	a.syncedOnce.Do(func() {
		a.log.Info("in sync", "version", a.cur.GetVersion())
		close(a.synced)
	})
}
