// Package secretfile is the one way Strata reads and writes files that hold
// secrets: key-encryption keys (kek.key, node.kek), the bootstrap admin
// token, NATS and node keys and credentials, join tokens, CLI token and
// session files, and the key files a user names on flags (--key,
// --eab-hmac-file). Every one is refused, naming the file and its mode,
// when group or others may read or write it, so no secret starts "without a
// word" while another is refused.
package secretfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// MaxSize bounds a secret file: every secret Strata reads is a few KB at
// most (a PEM key with its chain stays far below).
const MaxSize = 1 << 20

// ModeError says a secret file is open to group or others.
type ModeError struct {
	Path string
	Mode fs.FileMode
}

func (e *ModeError) Error() string {
	return fmt.Sprintf("%s: mode %#o: group or others can read or change this secret; restrict it with `chmod 600 %s`",
		e.Path, e.Mode.Perm(), e.Path)
}

// Read returns the content of the secret file path. It refuses a file that
// is not a regular file, whose mode gives group or others any access (a
// *ModeError), or that is larger than MaxSize. Errors of os.Open (such as
// fs.ErrNotExist) are returned wrapped.
func Read(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat() // of the file opened, not of whatever the path names later
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, &ModeError{Path: path, Mode: fi.Mode()}
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > MaxSize {
		clear(b)
		return nil, fmt.Errorf("%s: larger than %d bytes: not a secret Strata reads", path, MaxSize)
	}
	return b, nil
}

// Write stores data in path with mode 0600 through a temporary file in the
// same directory and a rename, so a crash never leaves half a secret. A file
// that already holds data (mode 0600) is left alone: nodes rewrite their
// credentials on every start, and one restarting on a full disk must not
// need free space for it.
func Write(path string, data []byte) error {
	if cur, err := Read(path); err == nil {
		same := bytes.Equal(cur, data)
		clear(cur)
		if same {
			return nil
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// IsMode reports whether err is a *ModeError.
func IsMode(err error) bool {
	var me *ModeError
	return errors.As(err, &me)
}
