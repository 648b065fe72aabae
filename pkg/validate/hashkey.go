package validate

import (
	"fmt"
	"strings"
)

// HashKey is what a consistent-hash upstream hashes. Kind is "client_ip",
// "uri", "path", "header", "cookie" or "query"; Name is the header, cookie
// or query argument of the last three.
type HashKey struct{ Kind, Name string }

// ParseHashKey parses an upstream's hash_key: client_ip, uri, path,
// header:NAME, cookie:NAME or query:NAME, NAME an RFC 9110 token. "" is
// client_ip (the control plane requires a key with the consistent-hash
// policy; nodes fall back to the client's address).
func ParseHashKey(s string) (HashKey, error) {
	switch s {
	case "", "client_ip":
		return HashKey{Kind: "client_ip"}, nil
	case "uri", "path":
		return HashKey{Kind: s}, nil
	}
	kind, name, ok := strings.Cut(s, ":")
	if !ok || kind != "header" && kind != "cookie" && kind != "query" {
		return HashKey{}, fmt.Errorf(`%q: want "client_ip", "uri", "path", "header:NAME", "cookie:NAME" or "query:NAME"`, s)
	}
	if r := Token(kind+" name", name); r != "" {
		return HashKey{}, fmt.Errorf("%q: %s", s, r)
	}
	return HashKey{Kind: kind, Name: name}, nil
}
