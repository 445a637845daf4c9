package imapwire

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// Defaults for zero DecoderOptions fields.
const (
	DefaultMaxLine    = 64 << 10
	DefaultMaxLiteral = 64 << 20
	DefaultSpoolAbove = 1 << 20
	// DefaultMaxSkip bounds how much of a refused non-synchronizing
	// literal the Decoder discards to keep the connection usable.
	DefaultMaxSkip = 256 << 20
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
	// MaxSkip is the largest refused non-synchronizing literal the Decoder
	// reads and discards; a larger one makes the refusal Fatal, since the
	// client sends it without waiting (RFC 7888 4). 0 means
	// DefaultMaxSkip.
	MaxSkip int64
	// Allow is called with a command's name once it is read, before its
	// arguments: an error refuses the command (BAD, the error's text)
	// before any of its literals is read, so that a command the
	// connection's state does not allow never makes the server hold or
	// spool its data. Nil allows every command.
	Allow func(name string) error
}

// Decoder reads commands from a client; it is not safe for concurrent
// use. The text of one command (its lines
// and the string literals in it, APPEND messages excepted) is bounded by
// 4*MaxLine; APPEND messages are held in memory up to SpoolAbove bytes per
// command and spooled to files beyond that.
type Decoder struct {
	r    *bufio.Reader
	opts DecoderOptions
	utf8 bool

	// The current line of the command being read, without CRLF, and the
	// parse position in it.
	line []byte
	pos  int
	// litPending says the literal announced at the end of line has not
	// been read yet.
	litPending bool
	tag        string
	wantTag    bool       // reading a command's first line: report its tag
	text       int64      // command text read so far
	mem        int64      // APPEND literal bytes held in memory so far
	lits       []*Literal // literals of the command, released on error
	depth      int        // nesting of search keys

	// litLimit, when positive, is the largest literal accepted now
	// (SetLiteralLimit), and litLimitWhy says why, for the refusal.
	litLimit    int64
	litLimitWhy string
}

// NewDecoder returns a Decoder reading from r.
func NewDecoder(r *bufio.Reader, opts DecoderOptions) *Decoder {
	if opts.MaxLine <= 0 {
		opts.MaxLine = DefaultMaxLine
	}
	if opts.MaxLiteral <= 0 {
		opts.MaxLiteral = DefaultMaxLiteral
	}
	if opts.SpoolAbove <= 0 {
		opts.SpoolAbove = DefaultSpoolAbove
	}
	if opts.MaxSkip <= 0 {
		opts.MaxSkip = DefaultMaxSkip
	}
	return &Decoder{r: r, opts: opts}
}

// SetUTF8 switches UTF8=ACCEPT mode (RFC 6855) on or off: mailbox names are
// then UTF-8 as sent, not modified UTF-7, and quoted strings may carry
// 8-bit UTF-8.
func (d *Decoder) SetUTF8(on bool) { d.utf8 = on }

// SetLiteralLimit lowers, while n is positive, the largest literal the
// Decoder accepts to n bytes; why ("before authentication") ends the
// refusal's text. A larger synchronizing literal is refused with BAD
// [LIMIT] before the client sends it; a larger non-synchronizing one, whose
// bytes are already on their way, with a Fatal BAD [LIMIT], and so is a
// refused command whose trailing non-synchronizing literals exceed n: the
// Decoder reads none of those bytes (RFC 7888 4 leaves a server that will
// not take them the choice of reading and discarding them or closing the
// connection). n <= 0 restores the DecoderOptions limits.
func (d *Decoder) SetLiteralLimit(n int64, why string) {
	d.litLimit, d.litLimitWhy = n, why
}

// maxSkip is the largest refused non-synchronizing literal read and
// discarded now.
func (d *Decoder) maxSkip() int64 {
	if d.litLimit > 0 {
		return min(d.litLimit, d.opts.MaxSkip)
	}
	return d.opts.MaxSkip
}

// UTF8 reports whether UTF8=ACCEPT mode is on.
func (d *Decoder) UTF8() bool { return d.utf8 }

// ReadCommand reads and parses one command with all its literals. A syntax
// or limit problem is a *CommandError, after which the rest of the command
// has been consumed and the Decoder can go on, unless the CommandError is
// Fatal (a non-synchronizing literal too large to skip); any other error
// (I/O) ends the connection. At the end of input before any byte of a
// command, the error is io.EOF.
func (d *Decoder) ReadCommand() (*Command, error) {
	d.tag, d.text, d.mem, d.depth = "", 0, 0, 0
	if cap(d.line) > 8<<10 {
		// Do not keep a long line's buffer: most connections idle.
		d.line = nil
	}
	clear(d.lits)
	d.lits = d.lits[:0]
	for {
		d.wantTag = true
		err := d.readLine()
		d.wantTag = false
		if err != nil {
			if errors.Is(err, errEmptyEOF) {
				return nil, io.EOF
			}
			return nil, d.fail(err)
		}
		if len(d.line) > 0 {
			break
		}
		d.text = 0
		// Tolerate empty lines between commands, as most servers do.
	}
	cmd, err := d.parseCommand()
	if err != nil {
		return nil, d.fail(err)
	}
	clear(d.lits)
	d.lits = d.lits[:0]
	return cmd, nil
}

// fail releases the command's literals and, for a *CommandError, consumes
// the rest of the command so that the next one can be read.
func (d *Decoder) fail(err error) error {
	for _, l := range d.lits {
		l.Close()
	}
	clear(d.lits)
	d.lits = d.lits[:0]
	var ce *CommandError
	if !errors.As(err, &ce) {
		return err
	}
	if ce.Tag == "" {
		ce.Tag = d.tag
	}
	if ce.Fatal {
		return ce
	}
	if serr := d.skipRest(); serr != nil {
		if errors.Is(serr, errTooLargeToSkip) {
			// Answer the command, then end the connection.
			ce.Fatal = true
			return ce
		}
		return serr
	}
	return ce
}

// errTooLargeToSkip says a refused command's non-synchronizing literal is
// larger than the Decoder will read to discard it.
var errTooLargeToSkip = errors.New("imapwire: refused non-synchronizing literal too large to skip")

// skipRest consumes what is left of a refused command: the rest of its
// line and every non-synchronizing literal and line after it. A pending
// synchronizing literal ends the command: without a continuation the
// client does not send it (RFC 9051 7.5).
func (d *Decoder) skipRest() error {
	for {
		if d.litPending {
			n, sync, ok := TrailingLiteral(d.line)
			if !ok || sync {
				return nil
			}
			if n > d.maxSkip() {
				return fmt.Errorf("%w: %d bytes", errTooLargeToSkip, n)
			}
			if _, err := d.r.Discard(int(n)); err != nil {
				return fmt.Errorf("imapwire: skipping literal: %w", unexpected(err))
			}
			d.litPending = false
		}
		if err := d.readLine(); err != nil {
			var ce *CommandError
			if errors.As(err, &ce) {
				continue // an overlong line: discarded, look at its tail
			}
			return unexpected(err)
		}
	}
}

// ReadLine reads one line without its CRLF, within MaxLine: for
// AUTHENTICATE continuations and IDLE's DONE. The slice is valid until the
// next call on d. An overlong line is a *CommandError, and is consumed.
func (d *Decoder) ReadLine() ([]byte, error) {
	d.text = 0
	if err := d.readLine(); err != nil {
		if errors.Is(err, errEmptyEOF) {
			return nil, io.EOF
		}
		d.litPending = false
		return nil, err
	}
	d.litPending = false
	return d.line, nil
}

// CommandError is a command the server must refuse: BAD (syntax) or NO
// (e.g. TOOBIG), tagged when the tag could be read.
type CommandError struct {
	Tag  string // "" when no tag could be read: answer "* BAD"
	NO   bool   // answer NO instead of BAD
	Code string // response code without brackets, e.g. "TOOBIG"; "" for none
	Msg  string
	// Fatal says the rest of the command could not be consumed (a
	// non-synchronizing literal too large to skip): after the answer the
	// connection must be closed.
	Fatal bool
	// Err is the cause when there is one (a failed spool write), for
	// errors.Is and logs.
	Err error
}

// Unwrap returns the cause.
func (e *CommandError) Unwrap() error { return e.Err }

// Error describes the refusal with its tag, for logs.
func (e *CommandError) Error() string {
	return fmt.Sprintf("%s: %s", e.Tag, e.Msg)
}

// badf returns a BAD CommandError; the tag is filled in by ReadCommand.
func badf(format string, a ...any) error {
	return &CommandError{Msg: fmt.Sprintf(format, a...)}
}

// badName returns the NO for a mailbox name that is not valid in the
// encoding in use (modified UTF-7, or UTF-8 under UTF8=ACCEPT): the
// command is well formed, it names no mailbox there can be, as Dovecot
// answers.
func badName(format string, a ...any) error {
	return &CommandError{NO: true, Msg: fmt.Sprintf(format, a...)}
}

// tooBig returns the NO [TOOBIG] error of RFC 7889.
func tooBig(format string, a ...any) error {
	return &CommandError{NO: true, Code: "TOOBIG", Msg: fmt.Sprintf(format, a...)}
}
