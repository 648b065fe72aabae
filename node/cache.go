package node

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/strata-edge/strata/node/cache"
	"github.com/strata-edge/strata/node/purge"
	"github.com/strata-edge/strata/pkg/natsutil"
)

// Files and defaults of the node's HTTP cache.
const (
	CacheDir                = "cache"
	PurgePositionFile       = "purge.db"
	DefaultCacheMemoryBytes = 256 << 20
)

// startCache opens the HTTP cache and starts the purge agent, which holds
// the cache (every request BYPASS) until the purges stored while the node
// was away are applied.
func (n *Node) startCache(ctx context.Context) error {
	open := func(ev cache.EvictFunc) (cache.Store, error) {
		size := n.opts.CacheMemoryBytes
		if size <= 0 {
			size = DefaultCacheMemoryBytes
		}
		return cache.NewMemory(size, ev), nil
	}
	if n.opts.CacheDiskBytes > 0 {
		open = func(ev cache.EvictFunc) (cache.Store, error) {
			return cache.OpenDisk(filepath.Join(n.opts.DataDir, CacheDir), n.opts.CacheDiskBytes, ev)
		}
	}
	var err error
	if n.cache, err = cache.New(cache.Options{Open: open}); err != nil {
		return fmt.Errorf("node: cache: %w", err)
	}
	n.proxyUp = make(chan struct{})
	n.purger, err = purge.New(purge.Options{NATS: n.nc, NodeID: n.opts.NodeID, PartitionID: n.opts.PartitionID,
		ClusterID: n.opts.ClusterID, Push: n.push,
		Cache: n.cache, PositionPath: filepath.Join(n.opts.DataDir, PurgePositionFile), Domain: natsutil.HubDomain,
		Logger: n.opts.Logger.With("node", n.opts.NodeID), LinkID: leafLinkID(n.leaf)})
	if err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if err := n.purger.Start(ctx); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	return nil
}

// push fetches one URL of a push through the node's own proxy pipeline
// (node/proxy Push), once the proxy runs.
func (n *Node) push(ctx context.Context, url string) purge.PushURL {
	select {
	case <-n.proxyUp:
	case <-ctx.Done():
		return purge.PushURL{Err: fmt.Errorf("the node's proxy did not start: %w", context.Cause(ctx))}
	}
	r := n.proxy.Push(ctx, url)
	return purge.PushURL{Status: r.Status, Bytes: r.Bytes, Cached: r.Cached, Err: r.Err}
}

// Cache is the node's HTTP cache (nil before Start).
func (n *Node) Cache() *cache.Cache {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cache
}

// PurgeApplied is the STRATA_PURGE stream sequence of the last purge this
// node applied (0 before Start or before any).
func (n *Node) PurgeApplied() uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.purger == nil {
		return 0
	}
	return n.purger.Applied()
}
