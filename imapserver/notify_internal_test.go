package imapserver

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"

	"github.com/dormouse/dormouse/hibernate"
	"github.com/dormouse/dormouse/imapwire"
	"github.com/dormouse/dormouse/mailstore"
)

// TestNotifySpecBlob: NOTIFY groups, MessageNew's fetch attributes
// among them, survive the state blob (with the view's extension states
// beside them), and a corrupt encoding is an error, never a wrong spec.
func TestNotifySpecBlob(t *testing.T) {
	fetch := []imapwire.FetchItem{
		{Name: "UID"},
		{Name: "BODY", Peek: true, Section: &imapwire.Section{Part: []int{1, 2}, Specifier: "HEADER.FIELDS", Fields: []string{"Subject", "From"}}, Partial: &imapwire.Partial{Offset: 3, Count: 100}},
		{Name: "BINARY.SIZE", Section: &imapwire.Section{Part: []int{2}}},
		{Name: "PREVIEW", Lazy: true},
		{Name: "ENVELOPE"},
	}
	spec := &notifySpec{groups: []notifyGroup{
		{filter: filterSelectedDelayed, events: evMessageNew | evMessageExpunge | evFlagChange, fetch: fetch},
		{filter: filterMailboxes, mailboxes: []string{"INBOX", "Lists/Go", "Été"}, events: evMessageNew | evMessageExpunge},
		{filter: filterSubtree, mailboxes: []string{"Work"}},
		{filter: filterPersonal, events: evMailboxName | evSubscriptionChange | evMailboxMetadata | evServerMetadata},
	}}
	st := &hibernate.State{User: "alice", Mailbox: "INBOX", UIDValidity: 7, UIDs: []hibernate.UIDRange{{First: 1, Last: 3}}, Messages: 3, UIDNext: 4,
		ExtState: []hibernate.ExtState{{Kind: 1, Data: []byte{1, 2}}}}
	withNotify(st, spec)
	blob, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var back hibernate.State
	if err := back.UnmarshalBinary(blob); err != nil {
		t.Fatal(err)
	}
	got, err := notifyOf(&back)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, spec) {
		t.Errorf("spec after the blob:\n got %+v\nwant %+v", got, spec)
	}
	withNotify(&back, nil)
	if len(back.ExtState) != 1 || back.ExtState[0].Kind != 1 {
		t.Errorf("withNotify(nil) left %v, want the view's state only", back.ExtState)
	}

	// The bad encodings below differ from this one in one place.
	if s, err := parseNotifySpec([]byte{1, 1, 3, 0, 1, 3, 'U', 'I', 'D', 0}); err != nil || len(s.groups[0].fetch) != 1 {
		t.Errorf("SELECTED (MessageNew (UID) MessageExpunge): %+v, %v", s, err)
	}
	data := appendNotifySpec(nil, spec)
	for _, bad := range [][]byte{
		nil,
		data[:len(data)-1],           // truncated
		append(bytes.Clone(data), 0), // trailing byte
		{1, 0, 0, 0},                 // filter 0
		{1, 8, 0, 0},                 // unknown filter
		{1, 3, 0x80, 0x01, 0},        // events out of range
		{1, 7, 1, 1, 5, 'a'},         // name longer than the data
		{0xe9, 0x07},                 // 1001 groups
		// The selected group's fetch attributes: none, an item FETCH
		// does not know, a flag byte out of range, a group without
		// MessageNew, no selected group.
		{1, 1, 3, 0, 0},
		{1, 1, 3, 0, 1, 3, 'F', 'O', 'O', 0},
		{1, 1, 3, 0, 1, 3, 'U', 'I', 'D', 16},
		{1, 1, 4, 0, 1, 3, 'U', 'I', 'D', 0},
		{1, 3, 3, 0, 1, 3, 'U', 'I', 'D', 0},
	} {
		if s, err := parseNotifySpec(bad); err == nil {
			t.Errorf("parseNotifySpec(%v) = %+v, want an error", bad, s)
		}
	}
}

// TestNotifyWants: which group decides, per filter and event (RFC 5465
// 6: the first group that names the mailbox and lists the event or says
// NONE).
func TestNotifyWants(t *testing.T) {
	subscribed := map[string]bool{"Work": true}
	facts := &mailboxFacts{list: func() ([]mailstore.MailboxInfo, error) {
		var out []mailstore.MailboxInfo
		for n := range subscribed {
			out = append(out, mailstore.MailboxInfo{Name: n, Subscribed: true})
		}
		return out, nil
	}}
	msg := evMessageNew | evMessageExpunge
	cases := []struct {
		groups  []notifyGroup
		mailbox string
		ev      notifyEvents
		want    bool
	}{
		{[]notifyGroup{{filter: filterPersonal, events: msg}}, "Lists", evMessageNew, true},
		{[]notifyGroup{{filter: filterPersonal, events: msg}}, "Lists", evFlagChange, false},
		{[]notifyGroup{{filter: filterInboxes, events: msg}}, "INBOX", evMessageNew, true},
		{[]notifyGroup{{filter: filterInboxes, events: msg}}, "Lists", evMessageNew, false},
		{[]notifyGroup{{filter: filterSubscribed, events: msg}}, "Work", evMessageExpunge, true},
		{[]notifyGroup{{filter: filterSubscribed, events: msg}}, "Lists", evMessageExpunge, false},
		{[]notifyGroup{{filter: filterSubtree, mailboxes: []string{"Work"}, events: msg}}, "Work/2026", evMessageNew, true},
		{[]notifyGroup{{filter: filterSubtree, mailboxes: []string{"Work"}, events: msg}}, "Workshop", evMessageNew, false},
		{[]notifyGroup{{filter: filterMailboxes, mailboxes: []string{"Work"}, events: msg}}, "Work/2026", evMessageNew, false},
		// The first group that names the mailbox decides: NONE.
		{[]notifyGroup{{filter: filterMailboxes, mailboxes: []string{"Lists"}}, {filter: filterPersonal, events: msg}}, "Lists", evMessageNew, false},
		// A group naming it without the event passes on to the next.
		{[]notifyGroup{{filter: filterMailboxes, mailboxes: []string{"Lists"}, events: evMailboxName}, {filter: filterPersonal, events: msg}}, "Lists", evMessageNew, true},
		// Selected groups never decide for other mailboxes.
		{[]notifyGroup{{filter: filterSelected, events: msg}}, "Lists", evMessageNew, false},
		// A server event: any group listing it, NONE groups aside.
		{[]notifyGroup{{filter: filterPersonal}, {filter: filterMailboxes, mailboxes: []string{"X"}, events: evServerMetadata}}, "", evServerMetadata, true},
		{[]notifyGroup{{filter: filterPersonal, events: evMailboxMetadata}}, "", evServerMetadata, false},
	}
	for i, tc := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			spec := &notifySpec{groups: tc.groups}
			if got := spec.wants(tc.mailbox, tc.ev, facts); got != tc.want {
				t.Errorf("wants(%q, %v) with %+v = %v, want %v", tc.mailbox, tc.ev, tc.groups, got, tc.want)
			}
		})
	}
}

// TestNotifyQueue: message events of one mailbox are one entry; past
// maxNotifyPending entries the queue reports the overflow and holds
// nothing (RFC 5465 5.8), and starts again empty.
func TestNotifyQueue(t *testing.T) {
	q := &notifyQueue{cancel: func() {}}
	pokes := 0
	q.setPoke(func() { pokes++ })
	q.add(mailstore.Event{Kind: mailstore.MessagesAdded, Mailbox: "Work"})
	q.add(mailstore.Event{Kind: mailstore.MailboxCreated, Mailbox: "New"})
	q.add(mailstore.Event{Kind: mailstore.FlagsChanged, Mailbox: "Work"})
	q.add(mailstore.Event{Kind: mailstore.MessagesExpunged, Mailbox: "Work"})
	q.add(mailstore.Event{Kind: mailstore.EventKind(99), Mailbox: "Work"}) // not NOTIFY's
	evs, overflow := q.take()
	want := []notifyEntry{
		{kind: mailstore.MessagesAdded, mailbox: "Work", events: evMessageNew | evFlagChange | evMessageExpunge},
		{kind: mailstore.MailboxCreated, mailbox: "New"},
	}
	if overflow || !reflect.DeepEqual(evs, want) {
		t.Errorf("take() = %+v, %v; want %+v, false", evs, overflow, want)
	}
	if pokes != 4 {
		t.Errorf("poked %d times, want 4", pokes)
	}
	for i := range maxNotifyPending + 1 {
		q.add(mailstore.Event{Kind: mailstore.SubscriptionsChanged, Mailbox: fmt.Sprint("m", i)})
	}
	if evs, overflow := q.take(); !overflow || len(evs) != 0 {
		t.Errorf("after %d events: take() = %d entries, overflow %v; want 0, true", maxNotifyPending+1, len(evs), overflow)
	}
	if q.due() {
		t.Error("due after take")
	}
}
