package provider

import (
	"os"
	"strings"
	"testing"
)

// TestExample applies and destroys examples/shop (the docs' example) as a
// user would, but for the terraform block: the test's provider is the
// in-process one.
func TestExample(t *testing.T) {
	acc(t)
	b, err := os.ReadFile("../../examples/shop/main.tf")
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	start := strings.Index(cfg, "terraform {")
	end := strings.Index(cfg, "\nprovider ")
	if start < 0 || end < start {
		t.Fatal("examples/shop/main.tf: no terraform block before the provider block")
	}
	test(t, nil, step(cfg[:start]+cfg[end:]))
}
