//go:build race

package api

// raceEnabled: allocation counts are meaningless under -race, which allocates on its own.
const raceEnabled = true
