package secretfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		mode    fs.FileMode
		size    int
		wantErr string // "" reads
	}{
		{"owner only", 0o600, 10, ""},
		{"owner read only", 0o400, 10, ""},
		{"group readable", 0o640, 10, "mode 0640"},
		{"world readable", 0o644, 10, "mode 0644"},
		{"world writable", 0o602, 10, "mode 0602"},
		{"too large", 0o600, MaxSize + 1, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tt.name, " ", "-"))
			if err := os.WriteFile(path, make([]byte, tt.size), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			b, err := Read(path)
			if tt.wantErr == "" {
				if err != nil || len(b) != tt.size {
					t.Fatalf("Read = %d bytes, %v", len(b), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Read error %v, want one naming %s and %q", err, path, tt.wantErr)
			}
			if strings.HasPrefix(tt.wantErr, "mode") && (!IsMode(err) || !strings.Contains(err.Error(), "chmod 600 "+path)) {
				t.Fatalf("Read error %v is not a ModeError saying how to fix it", err)
			}
		})
	}
	if _, err := Read(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("Read(dir) = %v", err)
	}
	if _, err := Read(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Read(missing) = %v, want fs.ErrNotExist", err)
	}
}

func TestWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	if err := Write(path, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, []byte("two")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}
	if b, err := Read(path); err != nil || string(b) != "two" {
		t.Fatalf("Read = %q, %v", b, err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
}

// Writing what the file already holds touches nothing (same inode, no
// temporary file): a node rewrites its credentials at every start, and on a
// full disk the temporary file could not be written.
func TestWriteUnchanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	if err := Write(path, []byte("same")); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(path, []byte("same")); err != nil {
		t.Fatal(err)
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Errorf("an unchanged secret was replaced by a new file")
	}
	// A file open to others is rewritten with mode 0600 even when its
	// content is the same.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, []byte("same")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v; want 0600", fi.Mode(), err)
	}
}
