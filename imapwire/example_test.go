package imapwire_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/dormouse/dormouse/imapwire"
)

// A server loop: read commands, answer refusals, keep going.
func ExampleDecoder() {
	in := "a1 LOGIN joe {6}\r\nsecret\r\na2 FETCH 0 FLAGS\r\na3 APPEND INBOX {4294967296}\r\na4 UID FETCH 1:* (FLAGS)\r\n"
	var out strings.Builder
	bw := bufio.NewWriter(&out)
	w := imapwire.NewWriter(bw)
	d := imapwire.NewDecoder(bufio.NewReader(strings.NewReader(in)), imapwire.DecoderOptions{
		Continue: func(n int64) error { return w.Raw("+ Ready").CRLF().Flush() },
	})
	for {
		cmd, err := d.ReadCommand()
		var ce *imapwire.CommandError
		switch {
		case errors.As(err, &ce):
			tag, status := ce.Tag, "BAD"
			if tag == "" {
				tag = "*"
			}
			if ce.NO {
				status = "NO"
			}
			w.Raw(tag).SP().Raw(status).SP()
			if ce.Code != "" {
				w.Raw("[" + ce.Code + "] ")
			}
			w.Raw(ce.Msg).CRLF()
			continue
		case err == io.EOF:
		case err != nil:
			w.Raw("* BYE ").Raw(err.Error()).CRLF()
		default:
			w.Raw(cmd.Tag).Raw(" OK ").Raw(cmd.Name).Raw(" done").CRLF()
			continue
		}
		break
	}
	w.Flush()
	fmt.Print(strings.ReplaceAll(out.String(), "\r\n", "\n"))
	// Output:
	// + Ready
	// a1 OK LOGIN done
	// a2 BAD sequence number zero
	// a3 NO [TOOBIG] message of 4294967296 bytes exceeds the limit of 67108864
	// a4 OK FETCH done
}
