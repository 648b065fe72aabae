package wafengine

import (
	"io/fs"
	"regexp"
	"slices"
	"sync"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
)

// crsIndex lists the rule ids and tags of the embedded Core Rule Set, so
// that an exclusion naming a rule or tag that does not exist is refused
// (a typo would otherwise exclude nothing, silently).
type crsIndex struct {
	ids  []int // sorted
	tags map[string]bool
}

var (
	crsOnce sync.Once
	crsIdx  *crsIndex
	idRe    = regexp.MustCompile(`(?:^|[",\s])id:'?(\d+)`)
	tagRe   = regexp.MustCompile(`tag:'([^']+)'`)
)

// crs scans the embedded rule files once.
func crs() *crsIndex {
	crsOnce.Do(func() {
		idx := &crsIndex{tags: map[string]bool{}}
		files, _ := fs.Glob(coreruleset.FS, "@owasp_crs/*.conf")
		for _, f := range files {
			b, err := fs.ReadFile(coreruleset.FS, f)
			if err != nil {
				continue
			}
			for _, m := range idRe.FindAllSubmatch(b, -1) {
				n := 0
				for _, c := range m[1] {
					n = n*10 + int(c-'0')
				}
				idx.ids = append(idx.ids, n)
			}
			for _, m := range tagRe.FindAllSubmatch(b, -1) {
				idx.tags[string(m[1])] = true
			}
		}
		slices.Sort(idx.ids)
		idx.ids = slices.Compact(idx.ids)
		crsIdx = idx
	})
	return crsIdx
}

// anyID reports whether a rule id in [lo, hi] exists.
func (c *crsIndex) anyID(lo, hi int) bool {
	i, _ := slices.BinarySearch(c.ids, lo)
	return i < len(c.ids) && c.ids[i] <= hi
}
