package fixturemail

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Threads makes messages of which about 60 % answer one of the last 500
// (References: the parent's plus its ID, In-Reply-To, "Re: " subject),
// from 400 senders with display names, some with non-ASCII subjects.
type Threads struct {
	rng  *rand.Rand
	msgs []threadMsg // the last ones, to answer
}

type threadMsg struct{ id, subject, refs string }

// Next returns message i, answering one of the last 500 or not.
func (g *Threads) Next(i int) string {
	w := func() string { return Words[g.rng.IntN(len(Words))] }
	m := threadMsg{id: fmt.Sprintf("<t%07d@bench.example>", i)}
	var parent *threadMsg
	if len(g.msgs) > 0 && g.rng.IntN(10) < 6 {
		parent = &g.msgs[g.rng.IntN(len(g.msgs))]
		m.subject = "Re: " + strings.TrimPrefix(parent.subject, "Re: ")
		m.refs = strings.TrimSpace(parent.refs + " " + parent.id)
		if f := strings.Fields(m.refs); len(f) > 20 {
			m.refs = strings.Join(f[len(f)-20:], " ")
		}
	} else {
		m.subject = fmt.Sprintf("%s %s %s", w(), w(), w())
		if g.rng.IntN(20) == 0 {
			m.subject = "=?UTF-8?Q?=C3=89tat_des_lieux?= " + w()
		}
	}
	g.msgs = append(g.msgs, m)
	if len(g.msgs) > 500 {
		g.msgs = g.msgs[1:]
	}
	s := g.rng.IntN(400)
	date := BaseTime.Add(time.Duration(i)*time.Minute + time.Duration(g.rng.IntN(3600))*time.Second)
	var b strings.Builder
	fmt.Fprintf(&b, "Return-Path: <p%d@example.org>\n", s)
	fmt.Fprintf(&b, "Message-ID: %s\n", m.id)
	fmt.Fprintf(&b, "Date: %s\n", date.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "From: \"Person %d\" <p%d@example.org>\n", s, s)
	fmt.Fprintf(&b, "To: \"Reader\" <reader@example.org>\n")
	fmt.Fprintf(&b, "Subject: %s\n", m.subject)
	if parent != nil {
		fmt.Fprintf(&b, "In-Reply-To: %s\nReferences: %s\n", parent.id, m.refs)
	}
	b.WriteString("MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n")
	for range 3 + g.rng.IntN(8) {
		fmt.Fprintf(&b, "%s %s %s %s %s %s %s %s\n", w(), w(), w(), w(), w(), w(), w(), w())
	}
	return b.String()
}

// NewThreads returns a Threads drawing from rng: bench/compare's sorter
// user and imapserver's BenchmarkSearchDuringBuild both take their
// messages from it.
func NewThreads(rng *rand.Rand) *Threads { return &Threads{rng: rng} }
