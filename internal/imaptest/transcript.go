package imaptest

import (
	"fmt"
	"regexp"
	"strings"
)

// Expect reads one response per pattern and checks it (see Run for the
// pattern forms).
func (c *Client) Expect(patterns ...string) {
	c.t.Helper()
	for _, p := range patterns {
		got := c.ReadLine()
		if err := match(p, got); err != nil {
			c.t.Fatalf("imaptest: %v", err)
		}
	}
}

// Run plays a transcript. Each non-blank line is one of:
//
//	C: text     sent to the server, CRLF added
//	S: text     the next response must equal text
//	S~ regexp   the next response must match regexp (whole response)
//	#  comment
//
// In C: and S: lines, the two characters \r\n stand for CRLF (for literals).
func (c *Client) Run(script string) {
	c.t.Helper()
	for _, raw := range strings.Split(script, "\n") {
		line := strings.TrimSpace(raw)
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "C: "):
			c.Write(crlf(line[3:]) + "\r\n")
		case strings.HasPrefix(line, "S: "), strings.HasPrefix(line, "S~ "):
			got := c.ReadLine()
			if err := match(line, got); err != nil {
				c.t.Fatalf("imaptest: %v", err)
			}
		default:
			c.t.Fatalf("imaptest: bad transcript line %q", line)
		}
	}
}

func crlf(s string) string { return strings.ReplaceAll(s, `\r\n`, "\r\n") }

// match checks got against "S: exact", "S~ regexp", or a bare exact text.
func match(pattern, got string) error {
	switch {
	case strings.HasPrefix(pattern, "S~ "):
		re, err := regexp.Compile(`^(?s:` + pattern[3:] + `)$`)
		if err != nil {
			return fmt.Errorf("bad pattern %q: %v", pattern, err)
		}
		if !re.MatchString(got) {
			return fmt.Errorf("\n got: %q\nwant: /%s/", got, pattern[3:])
		}
	default:
		want := crlf(strings.TrimPrefix(pattern, "S: "))
		if got != want {
			return fmt.Errorf("\n got: %q\nwant: %q", got, want)
		}
	}
	return nil
}
