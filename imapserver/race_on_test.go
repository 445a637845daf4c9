//go:build race

package imapserver_test

// raceDetector says the tests run under -race, where sync.Pool drops a
// share of what is put back on purpose, so allocation bounds that count
// on pooled buffers do not hold.
const raceDetector = true
