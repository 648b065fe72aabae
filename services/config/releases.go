package config

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// releaseRecord is one release of an app as the read model keeps it: the
// fields of configv1.Release as plain values, kept in a slice of values
// (about 180 bytes per release instead of 270 for a message, its two
// timestamp messages and a pointer: a million apps keep a million of
// them). Readers get the message from proto.
type releaseRecord struct {
	number, revertedTo         uint64
	position, promotedPosition uint64
	at, promotedAt             time.Time
	note, kind, actor, object  string
	promotedBy                 string
	staging                    bool
}

// proto returns the release as the API shows it.
func (r *releaseRecord) proto() *configv1.Release {
	out := &configv1.Release{Number: r.number, Note: r.note, Staging: r.staging, Kind: r.kind, Actor: r.actor,
		Time: timestamppb.New(r.at), Position: r.position, RevertedTo: r.revertedTo, Object: r.object}
	if r.promotedPosition != 0 {
		out.PromotedBy, out.PromotedTime, out.PromotedPosition = r.promotedBy, timestamppb.New(r.promotedAt), r.promotedPosition
	}
	return out
}

// releaseProtos returns the messages of rs, oldest first.
func releaseProtos(rs []releaseRecord) []*configv1.Release {
	out := make([]*configv1.Release, len(rs))
	for i := range rs {
		out[i] = rs[i].proto()
	}
	return out
}

// intern returns the state's copy of an actor name: every event carries
// its own, and a million releases by one deployer need one.
func (st *state) intern(actor string) string {
	if s, ok := st.actors[actor]; ok {
		return s
	}
	st.actors[actor] = actor
	return actor
}
