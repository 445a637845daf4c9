package main

import (
	"fmt"
	"strings"
)

// markerHeader names the header that tags every message a well-behaved
// client or delivery stores, so that the end of a soak can find each one.
const markerHeader = "X-Soak-ID"

// textMessage is a small message with a marker and a body of about
// bodyBytes bytes of text (no line starts with '.').
func textMessage(id, subject string, bodyBytes int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: bench@hostile.example\r\nTo: user@hostile.example\r\nSubject: %s\r\n", subject)
	fmt.Fprintf(&b, "Message-ID: <%s@hostile.example>\r\n%s: %s\r\n\r\n", id, markerHeader, id)
	line := "the quick brown fox jumps over the lazy dog 0123456789\r\n"
	for b.Len() < bodyBytes {
		b.WriteString(line)
	}
	return []byte(b.String())
}

// bigToMessage is a message whose To: header holds about headerBytes of
// addresses, folded one per line.
func bigToMessage(n, headerBytes int) []byte {
	var b strings.Builder
	b.Grow(headerBytes + 200)
	fmt.Fprintf(&b, "From: bench@hostile.example\r\nSubject: envelope %d\r\nTo: a0@example.org", n)
	for i := 1; b.Len() < headerBytes; i++ {
		fmt.Fprintf(&b, ",\r\n a%d@example.org", i)
	}
	b.WriteString("\r\n\r\nbody\r\n")
	return []byte(b.String())
}

// bigBodyMessage is a message of about size bytes of text that holds the
// word zqzqzq once, at its very end: every BODY zqzqzq key of a SEARCH
// matches, so none can cut the search short, and each one scans the whole
// body to find it.
func bigBodyMessage(size int) []byte {
	return append(textMessage("big", "big body", size), "zqzqzq\r\n"...)
}
