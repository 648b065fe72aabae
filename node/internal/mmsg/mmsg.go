// Package mmsg reads batches of UDP datagrams into preallocated numbered
// slots: on Linux one recvmmsg per batch, elsewhere one datagram per read.
// node/dns and node/stream/udpproxy share it.
package mmsg
