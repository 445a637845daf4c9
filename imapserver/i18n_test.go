package imapserver_test

import (
	"fmt"
	"testing"

	"github.com/dormouse/dormouse/internal/testserver"
)

// TestI18NLevel1Search checks that SEARCH matches strings equal under
// i;unicode-casemap (RFC 5051), as I18NLEVEL=1 requires (RFC 5255 4.4):
// a decomposed "ÉTÉ" finds the subject "été" (an RFC 2047 encoded-word,
// composed), and fullwidth "ｆｉｇ" finds "Fig".
func TestI18NLevel1Search(t *testing.T) {
	srv := testserver.Start(t)
	c := fillSorted(t, srv)
	decomposed := "E\u0301TE\u0301"
	fullwidth := "ｆｉｇ"
	c.Run(fmt.Sprintf(`
C: a1 SEARCH CHARSET UTF-8 SUBJECT {%d+}\r\n%s
S: * SEARCH 4
S: a1 OK SEARCH completed
C: a2 SEARCH CHARSET UTF-8 SUBJECT {%d+}\r\n%s
S: * SEARCH 7
S: a2 OK SEARCH completed
C: a3 SORT (SUBJECT) UTF-8 SUBJECT {%d+}\r\n%s
S: * SORT 4
S: a3 OK SORT completed
`, len(decomposed), decomposed, len(fullwidth), fullwidth, len(decomposed), decomposed))
}
