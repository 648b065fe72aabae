package nodes

import (
	"fmt"

	"github.com/nats-io/nkeys"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
	"github.com/strata-edge/strata/pkg/apierr"
	"github.com/strata-edge/strata/pkg/keywrap"
)

// Node KEK delivery: see pkg/keywrap/nodekek.go.

// checkKEKKey validates the optional transport key and its signature.
func checkKEKKey(req *configv1.JoinRequest) []apierr.FieldViolation {
	pub, sig := req.GetKekPublicKey(), req.GetKekPublicKeySignature()
	if len(pub) == 0 {
		if len(sig) > 0 {
			return []apierr.FieldViolation{{Field: "kek_public_key", Reason: "is required with kek_public_key_signature"}}
		}
		return nil
	}
	if err := keywrap.CheckTransportKey(pub); err != nil {
		return []apierr.FieldViolation{{Field: "kek_public_key", Reason: err.Error()}}
	}
	if len(sig) == 0 {
		return []apierr.FieldViolation{{Field: "kek_public_key_signature", Reason: "is required with kek_public_key"}}
	}
	kp, err := nkeys.FromPublicKey(req.GetPublicKey())
	if err != nil {
		return nil // public_key is reported on its own
	}
	if kp.Verify(keywrap.NodeKEKSignedMessage(pub), sig) != nil {
		return []apierr.FieldViolation{{Field: "kek_public_key_signature", Reason: "does not verify with public_key (sign keywrap.NodeKEKSignedMessage with the node's nkey)"}}
	}
	return nil
}

// sealNodeKEK returns the partition's node KEK sealed to pub, or nil when
// the node sent no transport key or no KEK source is configured.
func (s *Service) sealNodeKEK(nodeID, partitionID string, pub []byte) (*configv1.SealedNodeKek, error) {
	if len(pub) == 0 || s.opts.NodeKEK == nil {
		return nil, nil
	}
	kr, err := s.opts.NodeKEK(partitionID)
	if err != nil {
		return nil, fmt.Errorf("node KEK of partition %s: %w", partitionID, err)
	}
	sealed, err := keywrap.SealTo(pub, keywrap.NodeKEKInfo(nodeID, partitionID), []byte(kr.Text()))
	if err != nil {
		return nil, fmt.Errorf("seal node KEK: %w", err)
	}
	s.log.Info("sealed the partition's node KEK to the node's transport key", "node_id", nodeID, "partition_id", partitionID)
	return &configv1.SealedNodeKek{Suite: keywrap.SealedSuite, Ciphertext: sealed}, nil
}
