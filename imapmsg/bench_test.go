package imapmsg

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/dormouse/dormouse/imapwire"
)

// benchMessages returns n different realistic messages.
func benchMessages(n int) [][]byte {
	msgs := make([][]byte, n)
	for i := range msgs {
		msgs[i] = []byte(fmt.Sprintf("Return-Path: <user%d@example.org>\r\n"+
			"Received: from mx%d.example.org (mx.example.org [192.0.2.%d])\r\n\tby mail.example.com with ESMTPS id %x\r\n\tfor <rcpt@example.com>; Tue, 1 Jun 2021 10:%02d:00 +0000\r\n"+
			"Date: Tue, 1 Jun 2021 10:%02d:00 +0000\r\n"+
			"From: \"User %d\" <user%d@example.org>\r\n"+
			"To: rcpt@example.com, \"Other Person\" <other%d@example.net>\r\n"+
			"Cc: =?UTF-8?Q?J=C3=BCrgen?= <juergen@example.de>\r\n"+
			"Subject: =?UTF-8?Q?Message_number_%d_=E2=80=94_status?=\r\n"+
			"Message-ID: <msg-%d@example.org>\r\n"+
			"In-Reply-To: <msg-%d@example.org>\r\n"+
			"MIME-Version: 1.0\r\n"+
			"Content-Type: text/plain; charset=utf-8\r\n\r\n"+
			"%s", i, i%10, i%250, i*7919, i%60, i%60, i, i, i, i, i, i-1,
			strings.Repeat("Some body text of a message, line after line.\r\n", 20+i%30)))
	}
	return msgs
}

func newDiscardWriter() *imapwire.Writer {
	return imapwire.NewWriter(bufio.NewWriter(io.Discard))
}

// BenchmarkEnvelope1000 is FETCH 1:1000 ENVELOPE: ParseHeader and
// WriteEnvelope for 1,000 different messages per op.
func BenchmarkEnvelope1000(b *testing.B) {
	msgs := benchMessages(1000)
	readers := make([]*bytes.Reader, len(msgs))
	for i, m := range msgs {
		readers[i] = bytes.NewReader(m)
	}
	w := newDiscardWriter()
	b.ReportAllocs()
	for b.Loop() {
		for i, r := range readers {
			m, err := ParseHeader(r, int64(len(msgs[i])))
			if err != nil {
				b.Fatal(err)
			}
			m.WriteEnvelope(w)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkBodyStructure is Parse and WriteBodyStructure of a nested
// multipart message and of one with an attachment.
func BenchmarkBodyStructure(b *testing.B) {
	for _, name := range []string{"nested.eml", "mixed.eml"} {
		msg := readTestdata(b, name)
		b.Run(name, func(b *testing.B) {
			r := bytes.NewReader(msg)
			w := newDiscardWriter()
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				m, err := Parse(r, int64(len(msg)))
				if err != nil {
					b.Fatal(err)
				}
				m.WriteBodyStructure(w, true)
			}
		})
	}
}

// BenchmarkBodyContains searches a 1 MiB quoted-printable ISO-8859-1 body
// for a word that is not there (the worst case: the whole body decoded).
func BenchmarkBodyContains(b *testing.B) {
	var msg bytes.Buffer
	msg.WriteString("Subject: big text\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	for msg.Len() < 1<<20 {
		msg.WriteString("Voil=E0 une ligne de texte assez ordinaire, caf=E9 et cr=E8me br=FBl=E9e.\r\n")
	}
	m := parseBytes(b, msg.Bytes())
	b.ReportAllocs()
	b.SetBytes(int64(msg.Len()))
	for b.Loop() {
		if m.BodyContains("absent word") {
			b.Fatal("found")
		}
	}
}

// BenchmarkTextSearcher is SEARCH BODY's check of one message of 5 KiB of
// ASCII text with the needle absent (the whole body read): in memory
// (ParseHeaderBytes, what the server's search reads) and through a
// reader, with one TextSearcher reused as a search over a mailbox does.
func BenchmarkTextSearcher(b *testing.B) {
	var msg bytes.Buffer
	msg.WriteString("Subject: text\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	for msg.Len() < 5<<10 {
		msg.WriteString("Report meeting budget schedule project review draft release.\r\n")
	}
	raw := msg.Bytes()
	for _, inMemory := range []bool{true, false} {
		b.Run(map[bool]string{true: "in-memory", false: "reader"}[inMemory], func(b *testing.B) {
			var bs TextSearcher
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				var m *Message
				var err error
				if inMemory {
					m, err = ParseHeaderBytes(raw)
				} else {
					m, err = ParseHeader(bytes.NewReader(raw), int64(len(raw)))
				}
				if err != nil {
					b.Fatal(err)
				}
				if bs.Search(m, []string{"budget invoice"})[0] {
					b.Fatal("found")
				}
			}
		})
	}
}
