//go:build race

package perftest

// RaceEnabled reports a binary built with -race. Timings under the race detector describe
// the detector as much as the server, so results record it (config "race: on") and the gate
// does not compare them with a baseline recorded without it.
const RaceEnabled = true
