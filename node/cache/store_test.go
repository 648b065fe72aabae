package cache_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/strata-edge/strata/node/cache"
	"github.com/strata-edge/strata/node/cache/cachetest"
)

func TestMemoryConformance(t *testing.T) {
	cachetest.Run(t, func(t *testing.T, max int64, ev cache.EvictFunc) cache.Store { return cache.NewMemory(max, ev) })
}

func TestDiskConformance(t *testing.T) {
	cachetest.Run(t, func(t *testing.T, max int64, ev cache.EvictFunc) cache.Store {
		d, err := cache.OpenDisk(t.TempDir(), max, ev)
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

func objectFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	filepath.WalkDir(dir, func(p string, de os.DirEntry, err error) error {
		if err == nil && !de.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	return files
}

func TestDiskSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	d, err := cache.OpenDisk(dir, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = d.Put(cachetest.Object("a", 100))
	_ = d.Put(cachetest.Object("b", 200))
	d.Close()
	d2, err := cache.OpenDisk(dir, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d2.Len() != 2 || d2.Size() != d.Size() {
		t.Fatalf("after reopen len %d size %d, want 2 %d", d2.Len(), d2.Size(), d.Size())
	}
	o, ok := d2.Get("b")
	if !ok || len(o.Body) != 200 || o.Meta.Tags[1] != "t2" {
		t.Fatalf("b after reopen: %v %+v", ok, o)
	}
}

func TestDiskNeverServesDamagedFiles(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"truncated", func(t *testing.T, p string) {
			fi, _ := os.Stat(p)
			if err := os.Truncate(p, fi.Size()-10); err != nil {
				t.Fatal(err)
			}
		}},
		{"flipped body byte", func(t *testing.T, p string) {
			b, _ := os.ReadFile(p)
			b[len(b)-1] ^= 0xff
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"garbage header", func(t *testing.T, p string) {
			if err := os.WriteFile(p, []byte("not a cache file"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			d, _ := cache.OpenDisk(dir, 1<<20, nil)
			d.SetHotBytes(0) // every Get reads the file (a RAM copy would still be intact)
			_ = d.Put(cachetest.Object("a", 100))
			files := objectFiles(t, dir)
			if len(files) != 1 {
				t.Fatalf("files %v", files)
			}
			tc.damage(t, files[0])
			if _, ok := d.Get("a"); ok {
				t.Fatal("damaged object served from the open store")
			}
			_ = d.Put(cachetest.Object("a", 100))
			tc.damage(t, objectFiles(t, dir)[0])
			d2, err := cache.OpenDisk(dir, 1<<20, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := d2.Get("a"); ok {
				t.Fatal("damaged object served after reopen")
			}
			if d2.Len() != 0 || len(objectFiles(t, dir)) != 0 {
				t.Fatalf("damaged file kept: len %d files %v", d2.Len(), objectFiles(t, dir))
			}
		})
	}
}

func TestDiskRemovesLeftoverTempFiles(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "ab"), 0o750)
	tmp := filepath.Join(dir, "ab", ".tmp-123")
	os.WriteFile(tmp, []byte("half written"), 0o600)
	d, err := cache.OpenDisk(dir, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 0 {
		t.Fatalf("len %d", d.Len())
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Fatal("temp file left behind")
	}
}
