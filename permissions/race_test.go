//go:build race

package permissions

// raceEnabled shrinks the single-goroutine comparisons with the naive scan
// under -race: the plain run checks them in full, and the race detector has
// nothing to find in them but slows them twentyfold.
const raceEnabled = true
