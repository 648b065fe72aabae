package certs

import "crypto/tls"

// ServerConfig is the TLS listener config of an edge node: TLS 1.2 and 1.3,
// ALPN h2 and http/1.1, session tickets on (Go rotates the ticket keys), the
// certificate picked by SNI through get, and fallback (optional) for clients
// without SNI or names no certificate covers.
func ServerConfig(get func(*tls.ClientHelloInfo) (*tls.Certificate, error), fallback *tls.Certificate) *tls.Config {
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: get,
	}
	if fallback != nil {
		cfg.Certificates = []tls.Certificate{*fallback}
	}
	return cfg
}
