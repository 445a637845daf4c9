package imapserver_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/dormouse/dormouse/internal/testserver"
)

// TestWithin: WITHIN (RFC 5032) is advertised and SEARCH OLDER and
// YOUNGER compare INTERNALDATE with the time of the search in seconds,
// also under NOT and OR and in UID SEARCH and ESEARCH; an interval of 0
// is BAD (nz-number).
func TestWithin(t *testing.T) {
	srv := testserver.Start(t)
	c := srv.Login(t, srv.Alice)
	caps, _ := cmdResult(c, "c0", "CAPABILITY")
	if !strings.Contains(caps[0], " WITHIN") {
		t.Fatalf("CAPABILITY: %q", caps)
	}
	now := time.Now()
	for i, age := range []time.Duration{3 * time.Hour, 90 * time.Minute, 10 * time.Minute} {
		date := now.Add(-age).Format("02-Jan-2006 15:04:05 -0700")
		msg := testMessage(i + 1)
		if _, tagged := cmdResult(c, "ap", fmt.Sprintf("APPEND INBOX \"%s\" {%d+}\r\n%s", date, len(msg), msg)); !strings.HasPrefix(tagged, "OK") {
			t.Fatalf("APPEND dated %s: %s", date, tagged)
		}
	}
	c.Cmd("s0 SELECT INBOX")
	c.Run(`
C: w1 SEARCH YOUNGER 3600
S: * SEARCH 3
S: w1 OK SEARCH completed
C: w2 SEARCH OLDER 3600
S: * SEARCH 1 2
S: w2 OK SEARCH completed
C: w3 SEARCH OLDER 3600 YOUNGER 7200
S: * SEARCH 2
S: w3 OK SEARCH completed
C: w4 UID SEARCH OR YOUNGER 900 OLDER 9000
S: * SEARCH 1 3
S: w4 OK UID SEARCH completed
C: w5 SEARCH RETURN (COUNT) NOT YOUNGER 86400
S: * ESEARCH (TAG "w5") COUNT 0
S: w5 OK SEARCH completed
C: w6 SEARCH YOUNGER 0
S~ w6 BAD .*
`)
}
