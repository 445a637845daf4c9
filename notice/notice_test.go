package notice

import (
	"testing"
	"time"

	"github.com/dormouse/dormouse/mailstore"
)

func TestFromEvent(t *testing.T) {
	at := time.Now()
	ev := mailstore.Event{Kind: mailstore.MessagesExpunged, User: "alice", Mailbox: "INBOX", UIDs: []uint32{3},
		UIDValidity: 5, HighestModSeq: 40, UIDNext: 9, At: at}
	got := FromEvent(ev, "b1")
	want := Notice{User: "alice", Mailbox: "INBOX", Kind: MessagesExpunged, UIDValidity: 5, HighestModSeq: 40, UIDNext: 9, Node: "b1", At: at}
	if got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestChanges(t *testing.T) {
	// The session knows INBOX at UIDVALIDITY 5, HIGHESTMODSEQ 40,
	// UIDNEXT 9.
	tests := []struct {
		name string
		n    Notice
		want bool
	}{
		{"older modseq", Notice{Kind: FlagsChanged, Mailbox: "INBOX", UIDValidity: 5, HighestModSeq: 40, UIDNext: 9}, false},
		{"newer modseq", Notice{Kind: FlagsChanged, Mailbox: "INBOX", UIDValidity: 5, HighestModSeq: 41, UIDNext: 9}, true},
		{"newer uidnext", Notice{Kind: MessagesAdded, Mailbox: "inbox", UIDValidity: 5, HighestModSeq: 40, UIDNext: 10}, true},
		{"other uidvalidity", Notice{Kind: MessagesAdded, Mailbox: "INBOX", UIDValidity: 6, HighestModSeq: 2, UIDNext: 2}, true},
		{"counters unknown", Notice{Kind: MessagesExpunged, Mailbox: "INBOX"}, true},
		{"other mailbox", Notice{Kind: MessagesAdded, Mailbox: "Sent", UIDValidity: 5, HighestModSeq: 99, UIDNext: 99}, false},
		{"deleted", Notice{Kind: MailboxDeleted, Mailbox: "INBOX"}, true},
		{"renamed away", Notice{Kind: MailboxRenamed, Mailbox: "Old", OldName: "INBOX"}, true},
		{"created", Notice{Kind: MailboxCreated, Mailbox: "INBOX"}, false},
		{"subscriptions", Notice{Kind: SubscriptionsChanged}, false},
		{"newer kind", Notice{Kind: 99, Mailbox: "INBOX"}, true},
	}
	for _, tc := range tests {
		if got := tc.n.Changes("INBOX", 5, 40, 9); got != tc.want {
			t.Errorf("%s: Changes = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestParseNATS(t *testing.T) {
	tests := []struct {
		in, urls, embedded string
		ok                 bool
	}{
		{"nats://127.0.0.1:4222", "nats://127.0.0.1:4222", "", true},
		{"nats://a:4222,nats://b:4222", "nats://a:4222,nats://b:4222", "", true},
		{"embedded:127.0.0.1:4222", "", "127.0.0.1:4222", true},
		{"embedded:127.0.0.1:0", "", "", false},
		{"embedded:127.0.0.1", "", "", false},
		{"nats://a:4222,", "", "", false},
	}
	for _, tc := range tests {
		urls, emb, err := ParseNATS(tc.in)
		if (err == nil) != tc.ok || urls != tc.urls || emb != tc.embedded {
			t.Errorf("ParseNATS(%q) = %q, %q, %v", tc.in, urls, emb, err)
		}
	}
}
