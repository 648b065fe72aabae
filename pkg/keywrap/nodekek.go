package keywrap

// Node KEK delivery (services/nodes seals, the joining node opens). A
// joining node makes a one-time HPKE transport key pair, signs its public
// key with its nkey (so nobody else holding the join token can ask for the
// KEK to be sealed to their own key) and sends both in JoinRequest. Once the
// node is approved, Join returns its partition's node KEK sealed to that
// key. The KEK is never in clear on the wire and is never recorded.

// NodeKEKSignedMessage is what the node signs with its nkey: a domain
// separator and the transport public key.
func NodeKEKSignedMessage(kekPublicKey []byte) []byte {
	return append([]byte("strata-node-kek-v1\x00"), kekPublicKey...)
}

// NodeKEKInfo is the HPKE info the node KEK is sealed with: it binds the
// ciphertext to the node and partition it was made for.
func NodeKEKInfo(nodeID, partitionID string) []byte {
	return []byte("strata node kek v1\x00" + nodeID + "\x00" + partitionID)
}
