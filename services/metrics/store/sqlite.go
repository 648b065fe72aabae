package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"sync"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, pure Go
)

// OpenSQLite opens (creating it if needed) the store in the SQLite file at
// path, in WAL mode: readers never wait for the one writer.
func OpenSQLite(path string, r Retention) (Store, error) {
	ret, err := r.withDefaults()
	if err != nil {
		return nil, err
	}
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, invalid("path", "%q: a file name without ? or #", path)
	}
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_pragma=cache_size(-65536)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	s := &sqlStore{db: db, ret: ret, writeMu: &sync.Mutex{},
		d:      dialect{blob: "BLOB", greatest: "max"},
		lockTx: func(context.Context, *sql.Tx) error { return nil }, // writeMu serializes
	}
	if err := s.setup(context.Background()); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return s, nil
}
