package provider

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
)

// The per-resource examples of the registry docs (examples/resources and
// examples/data-sources) form one configuration: it applies against strata
// dev, plans empty and destroys, so no page shows an example that fails.
func TestResourceExamples(t *testing.T) {
	acc(t)
	files, err := filepath.Glob("../../examples/*/*/*.tf")
	if err != nil || len(files) < 16 {
		t.Fatalf("examples: %v %v", files, err)
	}
	var cfg strings.Builder
	cfg.WriteString(`variable "acme_directory" { default = "http://127.0.0.1:1/directory" }` + "\n")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Write(b)
		cfg.WriteString("\n")
	}
	test(t, nil, resource.TestStep{Config: cfg.String()})
}
