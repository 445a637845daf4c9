package tls13rec

import (
	"bytes"
	"net"
	"testing"
)

// FuzzConnRead feeds arbitrary input to a Conn: it must end in data, an
// error or a timeout, never a panic, and what it opened must be data
// the peer sealed (the seeds are valid records, a KeyUpdate, alerts).
func FuzzConnRead(f *testing.F) {
	st, mirror := testState(f, TLS_AES_128_GCM_SHA256)
	_, out, _ := mirror.halves()
	var seed []byte
	seed, _ = out.seal(seed, typeApplicationData, []byte("a NOOP\r\n"))
	f.Add(bytes.Clone(seed))
	seed, _ = out.seal(seed, typeHandshake, []byte{24, 0, 0, 1, 1})
	f.Add(bytes.Clone(seed))
	out.update()
	seed, _ = out.seal(seed, typeApplicationData, bytes.Repeat([]byte("x"), 300))
	f.Add(bytes.Clone(seed))
	seed, _ = out.seal(seed, typeAlert, []byte{1, 0})
	f.Add(seed)
	f.Add([]byte{23, 3, 3, 0xff, 0xff})
	f.Add([]byte{22, 3, 3, 0, 0})
	f.Fuzz(func(t *testing.T, raw []byte) {
		// The peer is gone: the Conn reads raw and then end of file,
		// and its alerts fail to go out.
		a, b := net.Pipe()
		b.Close()
		c, err := NewConn(a, st, raw)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 512)
		for range 100 {
			if _, err := c.Read(buf); err != nil {
				break
			}
		}
		c.Close()
		// State.OpenData on the same input, as a sleeper does.
		s := st
		s.OpenData(nil, bytes.Clone(raw))
	})
}

// FuzzSealOpen runs a script of writes and KeyUpdates through two
// directions of one state: everything sealed opens in order, and the
// sequence numbers stay in step.
func FuzzSealOpen(f *testing.F) {
	f.Add([]byte("hello"), []byte{0, 1, 0, 2, 0})
	f.Add(bytes.Repeat([]byte("x"), 40000), []byte{0, 0, 2, 1, 0})
	f.Fuzz(func(t *testing.T, data, script []byte) {
		if len(script) > 64 {
			script = script[:64]
		}
		for _, id := range []uint16{TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256} {
			st, mirror := testState(t, id)
			_, out, _ := st.halves()
			in, _, _ := mirror.halves()
			for _, op := range script {
				switch op % 3 {
				case 0:
					recs, err := sealAll(&out, nil, typeApplicationData, data)
					if err != nil {
						t.Fatal(err)
					}
					var got []byte
					for len(recs) > 0 {
						n, err := recordLen(recs)
						if err != nil || n == 0 || n > len(recs) {
							t.Fatalf("record length %d, %v", n, err)
						}
						typ, content, err := in.open(recs[:n])
						if err != nil || typ != typeApplicationData {
							t.Fatalf("open: %d %v", typ, err)
						}
						got = append(got, content...)
						recs = recs[n:]
					}
					if !bytes.Equal(got, data) {
						t.Fatal("data changed")
					}
				case 1:
					out.update()
					in.update()
				case 2:
					// A sleeper's Seal and OpenData from exported states.
					w := State{Suite: id, WriteSecret: out.secret, WriteSeq: out.seq, ReadSecret: out.secret}
					r := State{Suite: id, ReadSecret: in.secret, ReadSeq: in.seq, WriteSecret: in.secret}
					p := data[:min(len(data), 100)]
					rec, err := w.Seal(nil, p)
					if err != nil {
						t.Fatal(err)
					}
					got, used, _ := r.OpenData(nil, rec)
					if used != len(rec) || !bytes.Equal(got, p) || r.ReadSeq != w.WriteSeq {
						t.Fatalf("sleeper round trip: %d of %d", used, len(rec))
					}
					out.seq, in.seq = w.WriteSeq, r.ReadSeq
				}
				if in.seq != out.seq {
					t.Fatalf("sequence numbers %d, %d", in.seq, out.seq)
				}
			}
		}
	})
}
