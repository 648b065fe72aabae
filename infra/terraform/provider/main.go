// Command terraform-provider-strata is Strata's Terraform provider.
//
// The registry docs (docs/) are generated from its schema and examples/:
//
//go:generate go tool tfplugindocs generate --provider-name strata
package main

import (
	"context"
	"flag"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"

	"github.com/strata-edge/strata/infra/terraform/provider/internal/provider"
)

// version is set at release time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	debug := flag.Bool("debug", false, "run with support for debuggers (prints TF_REATTACH_PROVIDERS)")
	flag.Parse()
	err := providerserver.Serve(context.Background(), provider.New(version), providerserver.ServeOpts{
		Address: "registry.terraform.io/strata-edge/strata",
		Debug:   *debug,
	})
	if err != nil {
		log.Fatal(err)
	}
}
