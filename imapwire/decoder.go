package imapwire

import (
	"bufio"
	"fmt"
)

// DecoderOptions bound what a Decoder accepts.
type DecoderOptions struct {
	MaxLine    int   // longest command line, literals excluded
	MaxLiteral int64 // largest literal (APPEND messages included)
	// SpoolDir is where literals larger than SpoolAbove bytes are spooled
	// to temporary files instead of memory ("" means os.TempDir()).
	SpoolDir   string
	SpoolAbove int64
	// Continue is called before the Decoder reads a synchronizing literal
	// of size n; it writes "+ ..." to the client and flushes. It is not
	// called for non-synchronizing literals ({n+}).
	Continue func(n int64) error
}

// Decoder reads commands from a client.
type Decoder struct {
	r    *bufio.Reader
	opts DecoderOptions
}

// NewDecoder returns a Decoder reading from r.
func NewDecoder(r *bufio.Reader, opts DecoderOptions) *Decoder {
	return &Decoder{r: r, opts: opts}
}

// ReadCommand reads and parses one command with all its literals. A syntax
// or limit problem is a *CommandError, after which the rest of the command
// has been consumed and the Decoder can go on; any other error (I/O, a
// non-synchronizing literal too large to skip) ends the connection.
func (d *Decoder) ReadCommand() (*Command, error) {
	return nil, fmt.Errorf("imapwire: not implemented")
}

// ReadLine reads one line without its CRLF, within MaxLine: for
// AUTHENTICATE continuations and IDLE's DONE.
func (d *Decoder) ReadLine() ([]byte, error) {
	return nil, fmt.Errorf("imapwire: not implemented")
}

// CommandError is a command the server must refuse: BAD (syntax) or NO
// (e.g. TOOBIG), tagged when the tag could be read.
type CommandError struct {
	Tag  string // "" when no tag could be read: answer "* BAD"
	NO   bool   // answer NO instead of BAD
	Code string // response code without brackets, e.g. "TOOBIG"; "" for none
	Msg  string
}

func (e *CommandError) Error() string {
	return fmt.Sprintf("%s: %s", e.Tag, e.Msg)
}
