//go:build !linux

package proxy

import (
	"context"
	"errors"
	"net"
)

// The event loop is Linux only (epoll); elsewhere EngineLoop is fasthttp.
const loopSupported = false

type loopEngine struct{}

func (p *Proxy) startLoops(net.Listener) (*loopEngine, error) {
	return nil, errors.New("proxy: the evloop engine needs Linux")
}

func (e *loopEngine) stop(context.Context) {}
