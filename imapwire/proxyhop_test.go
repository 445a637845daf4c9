package imapwire

import (
	"reflect"
	"testing"
)

// TestProxyHopCommands parses XPROXY and XRESUME, good and bad: the blob
// is a literal of any bytes, the client address optional before it.
func TestProxyHopCommands(t *testing.T) {
	tests := []struct {
		in   string
		want any // nil: an error
	}{
		{"a XPROXY s3cret alice 192.0.2.7:4711\r\n", &XProxyArgs{Secret: "s3cret", User: "alice", ClientAddr: "192.0.2.7:4711"}},
		{"a xproxy \"s e\" {5+}\r\nalice [2001:db8::1]:993\r\n", &XProxyArgs{Secret: "s e", User: "alice", ClientAddr: "[2001:db8::1]:993"}},
		{"a XPROXY s3cret alice\r\n", nil},
		{"a XPROXY s3cret alice 1.2.3.4 more\r\n", nil},
		{"a XRESUME s3cret {3+}\r\n\x01\x00\r\r\n", &XResumeArgs{Secret: "s3cret", Blob: []byte("\x01\x00\r")}},
		{"a XRESUME s3cret 192.0.2.7 {2}\r\nab\r\n", &XResumeArgs{Secret: "s3cret", ClientAddr: "192.0.2.7", Blob: []byte("ab")}},
		{"a XRESUME s3cret ~{1+}\r\n\x00\r\n", &XResumeArgs{Secret: "s3cret", Blob: []byte("\x00")}},
		{"a XRESUME s3cret {0+}\r\n\r\n", &XResumeArgs{Secret: "s3cret", Blob: []byte{}}},
		{"a XRESUME s3cret\r\n", nil},
		{"a XRESUME s3cret blob\r\n", nil},
		{"a XRESUME s3cret 1.2.3.4 \"blob\"\r\n", nil},
		{"a XRESUME s3cret {2+}\r\nab extra\r\n", nil},
	}
	for _, tt := range tests {
		d := newTestDecoder(tt.in, DecoderOptions{}, nil)
		cmd, err := d.ReadCommand()
		if tt.want == nil {
			if err == nil {
				t.Errorf("%q: parsed as %+v, want an error", tt.in, cmd.Args)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(cmd.Args, tt.want) {
			t.Errorf("%q: got %+v, want %+v", tt.in, cmd.Args, tt.want)
		}
	}
}
