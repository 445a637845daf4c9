package interop

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// TestGoIMAPSortThread drives SORT, UID SORT, THREAD and UID THREAD with
// go-imap v2's client: its own encoding of the commands and parsing of
// the SORT and THREAD responses, against the dormouse binary.
func TestGoIMAPSortThread(t *testing.T) {
	srv := startServer(t)
	c := dialGoIMAP(t, srv, "go-imap-sort", nil)
	caps := c.Caps()
	if !caps.Has(imap.CapSort) || !caps.Has(imap.Cap("ESORT")) || !caps.Has(imap.Cap("SORT=DISPLAY")) {
		t.Errorf("CAPABILITY lacks SORT, ESORT or SORT=DISPLAY: %v", caps)
	}
	algs := caps.ThreadAlgorithms()
	for _, want := range []imap.ThreadAlgorithm{imap.ThreadOrderedSubject, imap.ThreadReferences, "REFS"} {
		if !containsAlg(algs, want) {
			t.Errorf("THREAD algorithms %v lack %s", algs, want)
		}
	}
	if err := c.Create("Threads", nil).Wait(); err != nil {
		t.Fatalf("CREATE: %v", err)
	}
	// 1 <- 2 <- 4 by References; 5 answers 3 by subject alone.
	msgs := []struct{ id, subject, refs string }{
		{"a", "Plans", ""},
		{"b", "Re: Plans", "<a@t>"},
		{"c", "Lunch", ""},
		{"d", "Re: Re: Plans", "<a@t> <b@t>"},
		{"e", "Re: Lunch", ""},
	}
	for i, m := range msgs {
		raw := fmt.Sprintf("From: u%d@example.org\r\nSubject: %s\r\nDate: %02d Jan 2026 10:00:00 +0000\r\nMessage-ID: <%s@t>\r\n", i, m.subject, i+1, m.id)
		if m.refs != "" {
			raw += "References: " + m.refs + "\r\n"
		}
		appendMsg(t, c, "Threads", raw+"\r\nbody\r\n", nil)
	}
	if _, err := c.Select("Threads", nil).Wait(); err != nil {
		t.Fatalf("SELECT: %v", err)
	}

	sorts := []struct {
		name     string
		uid      bool
		criteria []imapclient.SortCriterion
		search   *imap.SearchCriteria
		want     []uint32
	}{
		{"reverse date", false, []imapclient.SortCriterion{{Key: imapclient.SortKeyDate, Reverse: true}}, &imap.SearchCriteria{}, []uint32{5, 4, 3, 2, 1}},
		{"subject", false, []imapclient.SortCriterion{{Key: imapclient.SortKeySubject}}, &imap.SearchCriteria{}, []uint32{3, 5, 1, 2, 4}},
		{"uid, searched", true, []imapclient.SortCriterion{{Key: imapclient.SortKeyDate, Reverse: true}},
			&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "plans"}}}, []uint32{4, 2, 1}},
	}
	for _, s := range sorts {
		opts := &imapclient.SortOptions{SearchCriteria: s.search, SortCriteria: s.criteria}
		send := c.Sort
		if s.uid {
			send = c.UIDSort
		}
		cmd := send(opts)
		got, err := cmd.Wait()
		if err != nil || !reflect.DeepEqual(got, s.want) {
			t.Errorf("SORT %s = %v, %v; want %v", s.name, got, err, s.want)
		}
	}

	threads := []struct {
		alg  imap.ThreadAlgorithm
		uid  bool
		want []imapclient.ThreadData
	}{
		{imap.ThreadReferences, false, []imapclient.ThreadData{{Chain: []uint32{1, 2, 4}}, {Chain: []uint32{3, 5}}}},
		{imap.ThreadReferences, true, []imapclient.ThreadData{{Chain: []uint32{1, 2, 4}}, {Chain: []uint32{3, 5}}}},
		{imap.ThreadOrderedSubject, false, []imapclient.ThreadData{
			{Chain: []uint32{1}, SubThreads: []imapclient.ThreadData{{Chain: []uint32{2}}, {Chain: []uint32{4}}}},
			{Chain: []uint32{3, 5}},
		}},
		// REFS: no merging by subject, threads by their newest message.
		{"REFS", false, []imapclient.ThreadData{{Chain: []uint32{3}}, {Chain: []uint32{1, 2, 4}}, {Chain: []uint32{5}}}},
	}
	for _, th := range threads {
		opts := &imapclient.ThreadOptions{Algorithm: th.alg, SearchCriteria: &imap.SearchCriteria{}}
		send := c.Thread
		if th.uid {
			send = c.UIDThread
		}
		cmd := send(opts)
		got, err := cmd.Wait()
		if err != nil || !reflect.DeepEqual(got, th.want) {
			t.Errorf("THREAD %s (uid %v) = %+v, %v; want %+v", th.alg, th.uid, got, err, th.want)
		}
	}
}

func containsAlg(algs []imap.ThreadAlgorithm, want imap.ThreadAlgorithm) bool {
	for _, a := range algs {
		if a == want {
			return true
		}
	}
	return false
}
