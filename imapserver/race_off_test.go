//go:build !race

package imapserver_test

// raceDetector says the tests run under -race (race_on_test.go).
const raceDetector = false
