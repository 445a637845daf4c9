package imapwire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"
)

// fuzzOptions keep limits small so that the fuzzer reaches them.
func fuzzOptions(dir string, conts *int) DecoderOptions {
	return DecoderOptions{
		MaxLine:    512,
		MaxLiteral: 4096,
		SpoolAbove: 1024,
		SpoolDir:   dir,
		MaxSkip:    8192,
		Continue:   func(int64) error { *conts++; return nil },
	}
}

// FuzzReadCommand feeds arbitrary bytes to the Decoder and checks that it
// never panics, always makes progress, refuses with well-formed errors,
// produces output bounded by its input, and that every command it accepts
// survives a round trip: encoded back to the wire and parsed again, it is
// the same command.
func FuzzReadCommand(f *testing.F) {
	for _, tc := range goodCommands {
		f.Add([]byte(tc.in), false)
	}
	for _, tc := range hostileInputs {
		f.Add([]byte(tc.in), false)
	}
	f.Add([]byte("a SELECT Entwürfe\r\nb LIST \"\" \"Entwürfe/%\"\r\n"), true)
	f.Add([]byte("a APPEND INBOX (\\Seen) {3}\r\nabc ~{2+}\r\n\x00\x01\r\n"), false)
	f.Add([]byte("a APPEND INBOX CATENATE (TEXT {1+}\r\nx URL \";UID=1\" TEXT ~{1}\r\n\x00) {1+}\r\ny\r\n"+
		"b URLFETCH (u BINARY) v\r\nc GENURLAUTH u INTERNAL\r\nd RESETKEY INBOX INTERNAL\r\n"), false)
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte, utf8 bool) {
		fuzzBody(t, data, utf8, dir)
	})
}

// fuzzBody is the body of FuzzReadCommand.
func fuzzBody(t *testing.T, data []byte, utf8 bool, dir string) {
	conts := 0
	d := NewDecoder(bufio.NewReaderSize(bytes.NewReader(data), 64), fuzzOptions(dir, &conts))
	d.SetUTF8(utf8)
	for i := 0; ; i++ {
		if i > len(data)+1 {
			t.Fatalf("no progress after %d commands", i)
		}
		cmd, err := d.ReadCommand()
		var ce *CommandError
		switch {
		case err == nil:
			checkCommand(t, cmd, len(data), utf8, dir)
			releaseLiterals(cmd)
			continue
		case errors.As(err, &ce):
			if ce.Msg == "" || (ce.Tag != "" && !ValidTag([]byte(ce.Tag))) || (ce.Code != "" && ce.Code != "TOOBIG") {
				t.Fatalf("malformed error %#v", ce)
			}
			continue
		case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		case bytes.Contains(data, []byte("+}")):
			// A refused non-synchronizing literal too large to skip.
		default:
			t.Fatalf("unexpected error %v", err)
		}
		break
	}
}

func releaseLiterals(cmd *Command) {
	if a, ok := cmd.Args.(*AppendArgs); ok {
		a.Close()
	}
}

// checkCommand checks the invariants of a parsed command.
func checkCommand(t *testing.T, cmd *Command, inputLen int, utf8 bool, dir string) {
	t.Helper()
	if !ValidTag([]byte(cmd.Tag)) || commandName([]byte(cmd.Name)) != cmd.Name {
		t.Fatalf("bad tag or name in %+v", cmd)
	}
	// Output is linear in the input: no expansion beyond a constant factor
	// (FETCH macros and search keys are the largest, ~60 bytes of JSON
	// per input byte).
	if size := argSize(cmd.Args); size > 80*inputLen+1024 {
		t.Fatalf("%d bytes of arguments from %d bytes of input", size, inputLen)
	}
	wire := encodeCommand(cmd, utf8)
	conts := 0
	d := NewDecoder(bufio.NewReader(bytes.NewReader([]byte(wire))), DecoderOptions{MaxLiteral: 1 << 20, SpoolDir: dir, Continue: func(int64) error { conts++; return nil }})
	d.SetUTF8(utf8)
	again, err := d.ReadCommand()
	if err != nil {
		t.Fatalf("re-encoded command %q does not parse: %v", wire, err)
	}
	defer releaseLiterals(again)
	if a, b := canonDump(cmd), canonDump(again); a != b {
		t.Fatalf("round trip through %q changed the command:\n%s\n%s", wire, a, b)
	}
	if conts != 0 {
		t.Fatalf("non-synchronizing literals asked for continuation")
	}
}

// argSize measures a command's arguments: their JSON form, with APPEND
// messages counted by size.
func argSize(args any) int {
	n := len(dump(args))
	if a, ok := args.(*AppendArgs); ok {
		for _, m := range a.Messages {
			if m.Literal != nil {
				n += int(m.Literal.Size) - len(dump(m.Literal))
			}
			for _, p := range m.Parts {
				if p.Text != nil {
					n += int(p.Text.Size) - len(dump(p.Text))
				}
			}
		}
	}
	return n
}

// canonDump is dump with APPEND messages compared by content, whether in
// memory or spooled.
func canonDump(cmd *Command) string {
	a, ok := cmd.Args.(*AppendArgs)
	if !ok {
		return dump(cmd)
	}
	c := *cmd
	ca := *a
	ca.Messages = nil
	for _, m := range a.Messages {
		m.Literal = inMemory(m.Literal)
		parts := make([]CatPart, len(m.Parts))
		for i, p := range m.Parts {
			p.Text = inMemory(p.Text)
			parts[i] = p
		}
		if m.Parts != nil {
			m.Parts = parts
		}
		ca.Messages = append(ca.Messages, m)
	}
	c.Args = &ca
	return dump(&c)
}

// inMemory returns a literal's content held in memory, spooled or not.
func inMemory(l *Literal) *Literal {
	if l == nil {
		return nil
	}
	data := l.Bytes
	if l.File != nil {
		data, _ = io.ReadAll(l.Reader())
	}
	return &Literal{Size: l.Size, Bytes: data}
}
