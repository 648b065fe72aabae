module github.com/strata-edge/strata

go 1.26.0

require (
	connectrpc.com/connect v1.21.1 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/spf13/cobra v1.10.2 // indirect
	github.com/spf13/pflag v1.0.9 // indirect
	github.com/strata-edge/strata/gen v0.0.0-00010101000000-000000000000
	github.com/strata-edge/strata/node v0.0.0-00010101000000-000000000000
	github.com/strata-edge/strata/pkg v0.0.0-00010101000000-000000000000
	github.com/strata-edge/strata/services v0.0.0-00010101000000-000000000000
	golang.org/x/net v0.62.0 // indirect
	google.golang.org/protobuf v1.36.11 // indirect
)

replace github.com/strata-edge/strata/gen => ./gen

replace github.com/strata-edge/strata/pkg => ./pkg

replace github.com/strata-edge/strata/services => ./services

replace github.com/strata-edge/strata/node => ./node
