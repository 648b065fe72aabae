package cache

import (
	"container/list"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// Disk is a size-bounded LRU store of one file per object. A file is written
// to a temporary name, fsynced and renamed into place, and carries a header
// with lengths and a CRC-32C of its contents, so a torn or damaged file is
// detected and treated as a miss, never served.
//
// File layout: magic "STC1" | meta length u32 | body length u64 | crc32c u32 |
// meta (JSON) | body. The LRU order and the byte count live in memory and are
// rebuilt from the files (oldest modification time first) at open.
type Disk struct {
	dir     string
	max     int64
	onEvict EvictFunc

	mu    sync.Mutex
	size  int64
	lru   *list.List // values are *diskEntry
	items map[string]*list.Element
	// unsynced are directories whose unlinks (Delete) Sync has not made
	// durable yet.
	unsynced map[string]struct{}
	// The RAM tier (diskhot.go).
	hotLRU          *list.List // values are *diskEntry with a hot copy
	hotSize, hotMax int64
}

type diskEntry struct {
	meta *Meta
	size int64
	path string
	gen  uint64 // bumped by every Put of the key: a read of an older file is not kept hot
	// hot is the object kept in RAM (nil when not), hotEl its hotLRU element.
	hot     *Object
	hotEl   *list.Element
	hotSize int64
}

const (
	diskMagic   = "STC1"
	diskHdrLen  = 4 + 4 + 8 + 4
	tmpPrefix   = ".tmp-"
	maxMetaSize = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// OpenDisk opens (creating if needed) a disk store in dir holding at most
// maxBytes of files. Files that fail their length check and leftover
// temporary files are removed. Its RAM tier (SetHotBytes) starts at
// DefaultHotBytes, at most an eighth of maxBytes.
func OpenDisk(dir string, maxBytes int64, onEvict EvictFunc) (*Disk, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("open disk cache %q: %w", dir, err)
	}
	d := &Disk{dir: dir, max: maxBytes, onEvict: onEvict, lru: list.New(), items: make(map[string]*list.Element),
		hotLRU: list.New(), hotMax: min(maxBytes/8, DefaultHotBytes)}
	type found struct {
		e   *diskEntry
		mod int64
	}
	var all []found
	err := filepath.WalkDir(dir, func(path string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		if strings.HasPrefix(de.Name(), tmpPrefix) {
			_ = os.Remove(path) // a write that never reached its rename
			return nil
		}
		meta, size, err := readDiskMeta(path)
		if err != nil {
			slog.Warn("cache: dropping damaged file", "path", path, "err", err)
			_ = os.Remove(path)
			return nil
		}
		info, err := de.Info()
		if err != nil {
			return err
		}
		all = append(all, found{&diskEntry{meta: meta, size: size, path: path}, info.ModTime().UnixNano()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open disk cache %q: %w", dir, err)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].mod > all[j].mod })
	for _, f := range all {
		if _, dup := d.items[f.e.meta.Key]; dup {
			continue
		}
		d.items[f.e.meta.Key] = d.lru.PushBack(f.e)
		d.size += f.e.size
	}
	d.mu.Lock()
	evicted := d.evictLocked()
	d.mu.Unlock()
	d.removeFiles(evicted)
	return d, nil
}

func (d *Disk) pathFor(key string) string {
	sum := sha256.Sum256([]byte(key))
	h := hex.EncodeToString(sum[:])
	return filepath.Join(d.dir, h[:2], h)
}

// readDiskMeta reads a file's header and metadata and checks the file length.
func readDiskMeta(path string) (*Meta, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	var hdr [diskHdrLen]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return nil, 0, fmt.Errorf("header: %w", err)
	}
	metaLen, bodyLen, _, err := parseDiskHeader(hdr[:])
	if err != nil {
		return nil, 0, err
	}
	info, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	total := int64(diskHdrLen) + int64(metaLen) + int64(bodyLen)
	if info.Size() != total {
		return nil, 0, fmt.Errorf("length %d, header says %d", info.Size(), total)
	}
	buf := make([]byte, metaLen)
	if _, err := io.ReadFull(f, buf); err != nil {
		return nil, 0, fmt.Errorf("meta: %w", err)
	}
	var m Meta
	if err := json.Unmarshal(buf, &m); err != nil {
		return nil, 0, fmt.Errorf("meta: %w", err)
	}
	return &m, total, nil
}

func parseDiskHeader(hdr []byte) (metaLen uint32, bodyLen uint64, sum uint32, err error) {
	if string(hdr[:4]) != diskMagic {
		return 0, 0, 0, errors.New("bad magic")
	}
	metaLen = binary.BigEndian.Uint32(hdr[4:8])
	bodyLen = binary.BigEndian.Uint64(hdr[8:16])
	sum = binary.BigEndian.Uint32(hdr[16:20])
	if metaLen == 0 || metaLen > maxMetaSize || bodyLen > 1<<40 {
		return 0, 0, 0, fmt.Errorf("implausible lengths meta=%d body=%d", metaLen, bodyLen)
	}
	return metaLen, bodyLen, sum, nil
}

// readDiskObject reads and verifies a whole file.
func readDiskObject(path string) (*Object, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(data) < diskHdrLen {
		return nil, errors.New("short file")
	}
	metaLen, bodyLen, sum, err := parseDiskHeader(data[:diskHdrLen])
	if err != nil {
		return nil, err
	}
	if uint64(len(data)) != diskHdrLen+uint64(metaLen)+bodyLen {
		return nil, fmt.Errorf("length %d does not match header", len(data))
	}
	payload := data[diskHdrLen:]
	if crc32.Checksum(payload, castagnoli) != sum {
		return nil, errors.New("checksum mismatch")
	}
	obj := &Object{Body: payload[metaLen:]}
	if err := json.Unmarshal(payload[:metaLen], &obj.Meta); err != nil {
		return nil, fmt.Errorf("meta: %w", err)
	}
	return obj, nil
}

func (d *Disk) Get(key string) (*Object, bool) {
	d.mu.Lock()
	el, ok := d.items[key]
	if !ok {
		d.mu.Unlock()
		return nil, false
	}
	d.lru.MoveToFront(el)
	e := el.Value.(*diskEntry)
	if obj := d.hotGetLocked(e); obj != nil {
		d.mu.Unlock()
		return obj, true
	}
	path, gen, hotOn := e.path, e.gen, d.hotMax > 0
	d.mu.Unlock()
	obj, err := readDiskObject(path)
	if hotOn && err == nil && obj.Meta.Key == key {
		d.mu.Lock()
		if cur, ok := d.items[key]; ok && cur == el && e.gen == gen { // not deleted or replaced meanwhile
			d.hotSetLocked(e, obj)
		}
		d.mu.Unlock()
	}
	if err != nil || obj.Meta.Key != key {
		key = strings.Clone(key)             // may alias the caller's buffer; kept by the log and eviction
		if !errors.Is(err, fs.ErrNotExist) { // else a concurrent delete won the race
			slog.Warn("cache: unreadable object is a miss", "key", key, "err", err)
		}
		d.dropIf(key, el)
		return nil, false
	}
	return obj, true
}

func (d *Disk) dropIf(key string, el *list.Element) {
	d.mu.Lock()
	cur, ok := d.items[key]
	if !ok || cur != el {
		d.mu.Unlock()
		return
	}
	e := el.Value.(*diskEntry)
	d.lru.Remove(el)
	delete(d.items, key)
	d.size -= e.size
	d.hotDropLocked(e)
	d.mu.Unlock()
	_ = os.Remove(e.path)
	if d.onEvict != nil {
		d.onEvict(key)
	}
}

func (d *Disk) Put(obj *Object) error {
	meta, err := json.Marshal(&obj.Meta)
	if err != nil {
		return fmt.Errorf("cache put %q: %w", obj.Meta.Key, err)
	}
	total := int64(diskHdrLen + len(meta) + len(obj.Body))
	if total > d.max {
		return ErrTooLarge
	}
	path := d.pathFor(obj.Meta.Key)
	if err := writeDiskFile(path, meta, obj.Body); err != nil {
		return fmt.Errorf("cache put %q: %w", obj.Meta.Key, err)
	}
	m := obj.Meta
	d.mu.Lock()
	if el, ok := d.items[m.Key]; ok {
		e := el.Value.(*diskEntry)
		d.size += total - e.size
		e.meta, e.size = &m, total
		e.gen++
		d.lru.MoveToFront(el)
		d.hotSetLocked(e, obj)
	} else {
		e := &diskEntry{meta: &m, size: total, path: path}
		d.items[m.Key] = d.lru.PushFront(e)
		d.size += total
		d.hotSetLocked(e, obj)
	}
	evicted := d.evictLocked()
	d.mu.Unlock()
	d.removeFiles(evicted)
	return nil
}

func writeDiskFile(path string, meta, body []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // no-op after a successful rename
	var hdr [diskHdrLen]byte
	copy(hdr[:4], diskMagic)
	binary.BigEndian.PutUint32(hdr[4:8], uint32(len(meta)))
	binary.BigEndian.PutUint64(hdr[8:16], uint64(len(body)))
	sum := crc32.Update(crc32.Checksum(meta, castagnoli), castagnoli, body)
	binary.BigEndian.PutUint32(hdr[16:20], sum)
	for _, b := range [][]byte{hdr[:], meta, body} {
		if _, err := f.Write(b); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	// Make the rename durable too; a failure here is not worth failing the put.
	if df, err := os.Open(dir); err == nil {
		_ = df.Sync()
		df.Close()
	}
	return nil
}

type evictedFile struct{ key, path string }

func (d *Disk) evictLocked() []evictedFile {
	var out []evictedFile
	for d.size > d.max {
		el := d.lru.Back()
		e := el.Value.(*diskEntry)
		d.lru.Remove(el)
		delete(d.items, e.meta.Key)
		d.size -= e.size
		d.hotDropLocked(e)
		out = append(out, evictedFile{e.meta.Key, e.path})
	}
	return out
}

func (d *Disk) removeFiles(ev []evictedFile) {
	for _, e := range ev {
		_ = os.Remove(e.path)
		if d.onEvict != nil {
			d.onEvict(e.key)
		}
	}
}

func (d *Disk) Delete(key string) bool {
	d.mu.Lock()
	el, ok := d.items[key]
	if !ok {
		d.mu.Unlock()
		return false
	}
	e := el.Value.(*diskEntry)
	d.lru.Remove(el)
	delete(d.items, key)
	d.size -= e.size
	d.hotDropLocked(e)
	// Remove under the lock so a concurrent Put of the same key cannot have
	// its fresh file deleted.
	_ = os.Remove(e.path)
	d.markUnsyncedLocked(filepath.Dir(e.path))
	d.mu.Unlock()
	return true
}

func (d *Disk) Range(fn func(*Meta) bool) {
	d.mu.Lock()
	metas := make([]*Meta, 0, len(d.items))
	for _, el := range d.items {
		metas = append(metas, el.Value.(*diskEntry).meta)
	}
	d.mu.Unlock()
	for _, m := range metas {
		if !fn(m) {
			return
		}
	}
}

func (d *Disk) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.items)
}

func (d *Disk) Size() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.size
}

func (d *Disk) Close() error { return nil }

var _ Store = (*Disk)(nil)
