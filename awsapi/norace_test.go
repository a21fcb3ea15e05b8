//go:build !race

package awsapi_test

// raceDetector reports that the race detector is on; it makes sync.Pool
// drop items at random, so allocation counts vary a little between runs.
const raceDetector = false
