module github.com/strata-edge/strata/gen

go 1.26.7

require (
	connectrpc.com/connect v1.21.1
	google.golang.org/protobuf v1.36.12
)
