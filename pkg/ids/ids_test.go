package ids

import (
	"regexp"
	"testing"
)

func TestNewShapeAndUniqueness(t *testing.T) {
	shape := regexp.MustCompile(`^app_[a-z2-7]{16}$`)
	seen := make(map[string]bool)
	for range 10000 {
		id := New("app_")
		if !shape.MatchString(id) {
			t.Fatalf("id %q does not have the documented shape", id)
		}
		if seen[id] {
			t.Fatalf("id %q repeated", id)
		}
		seen[id] = true
	}
}
