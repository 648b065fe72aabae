module github.com/strata-edge/strata

go 1.26.0

require (
	github.com/strata-edge/strata/gen v0.0.0-00010101000000-000000000000
	github.com/strata-edge/strata/node v0.0.0-00010101000000-000000000000
	github.com/strata-edge/strata/pkg v0.0.0-00010101000000-000000000000
	github.com/strata-edge/strata/services v0.0.0-00010101000000-000000000000
)

require (
	connectrpc.com/connect v1.21.1 // indirect
	connectrpc.com/grpchealth v1.5.0 // indirect
	connectrpc.com/grpcreflect v1.3.1 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/spf13/cobra v1.10.2 // indirect
	github.com/spf13/pflag v1.0.9 // indirect
	golang.org/x/net v0.62.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20261110000943-09e21b237f2c // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)

replace github.com/strata-edge/strata/gen => ./gen

replace github.com/strata-edge/strata/pkg => ./pkg

replace github.com/strata-edge/strata/services => ./services

replace github.com/strata-edge/strata/node => ./node
