package cache

import (
	"errors"
	"fmt"
	"os"
)

// Sync makes the hard purges applied so far durable: a node's purge agent
// calls it before it records a purge as applied, so that after a crash a
// purge is either still gone or applied again. Stores that lose nothing on
// a crash (memory) need nothing.
func (c *Cache) Sync() error {
	if s, ok := c.store.(interface{ Sync() error }); ok {
		return s.Sync()
	}
	return nil
}

// Sync fsyncs the directories that lost files (Delete) since the last Sync.
func (d *Disk) Sync() error {
	d.mu.Lock()
	dirs := d.unsynced
	d.unsynced = nil
	d.mu.Unlock()
	var errs []error
	for dir := range dirs {
		if err := syncDir(dir); err != nil {
			errs = append(errs, err)
			d.mu.Lock()
			d.markUnsyncedLocked(dir) // retried by the next Sync
			d.mu.Unlock()
		}
	}
	return errors.Join(errs...)
}

func (d *Disk) markUnsyncedLocked(dir string) {
	if d.unsynced == nil {
		d.unsynced = map[string]struct{}{}
	}
	d.unsynced[dir] = struct{}{}
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("cache sync: %w", err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("cache sync %s: %w", dir, err)
	}
	return nil
}
