package cli

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"

	configv1 "github.com/strata-edge/strata/gen/strata/config/v1"
)

// challengeFlags describe a rule's challenge action (--challenge*): a
// proof-of-work page for clients without a clearance cookie.
type challengeFlags struct {
	on         bool
	difficulty uint32
	clearance  time.Duration
}

var challengeFlagNames = []string{"challenge", "challenge-difficulty", "challenge-clearance"}

func (c *challengeFlags) register(fs *pflag.FlagSet) {
	fs.BoolVar(&c.on, "challenge", false, "serve a JavaScript proof-of-work challenge to clients without a clearance cookie")
	fs.Uint32Var(&c.difficulty, "challenge-difficulty", 0, "leading zero bits the browser must find, 8-24 (0 = 16, about a second)")
	fs.DurationVar(&c.clearance, "challenge-clearance", 0, "how long a solved challenge clears the client, 1m-24h (0 = 1h)")
}

// action returns the challenge action the flags describe, nil when none
// is given.
func (c *challengeFlags) action(fs *pflag.FlagSet) (*configv1.ChallengeAction, error) {
	if !anyChanged(fs, challengeFlagNames) || (fs.Changed("challenge") && !c.on) {
		return nil, nil
	}
	if c.clearance < 0 || c.clearance%time.Second != 0 || c.clearance > 24*time.Hour {
		return nil, usagef("--challenge-clearance %s: want whole seconds up to 24h", c.clearance)
	}
	return &configv1.ChallengeAction{Difficulty: c.difficulty, ClearanceSeconds: uint32(c.clearance / time.Second)}, nil
}

func describeChallenge(a *configv1.ChallengeAction) string {
	d, s := a.GetDifficulty(), a.GetClearanceSeconds()
	if d == 0 {
		d = 16
	}
	if s == 0 {
		s = 3600
	}
	return fmt.Sprintf("challenge %d bits, clearance %s", d, time.Duration(s)*time.Second)
}
