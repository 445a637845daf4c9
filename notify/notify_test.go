package notify

import (
	"reflect"
	"sort"
	"testing"

	"github.com/dormouse/dormouse/mailstore"
)

func TestBus(t *testing.T) {
	b := New()
	var got []string
	rec := func(tag string) func(mailstore.Event) {
		return func(ev mailstore.Event) { got = append(got, tag+":"+ev.Mailbox) }
	}
	c1 := b.Subscribe("u", "INBOX", rec("inbox"))
	b.Subscribe("u", "", rec("all"))
	b.Subscribe("u", "Old", rec("old"))
	b.Subscribe("v", "", rec("other"))
	b.Subscribe("", "", rec("every"))

	tests := []struct {
		ev   mailstore.Event
		want []string
	}{
		{mailstore.Event{User: "u", Mailbox: "INBOX"}, []string{"all:INBOX", "every:INBOX", "inbox:INBOX"}},
		{mailstore.Event{User: "u", Mailbox: "inbox"}, []string{"all:inbox", "every:inbox", "inbox:inbox"}},
		{mailstore.Event{User: "u", Mailbox: "Sent"}, []string{"all:Sent", "every:Sent"}},
		{mailstore.Event{User: "u", Mailbox: "New", OldName: "Old", Kind: mailstore.MailboxRenamed}, []string{"all:New", "every:New", "old:New"}},
		{mailstore.Event{User: "w", Mailbox: "INBOX"}, []string{"every:INBOX"}},
	}
	for _, tc := range tests {
		got = nil
		b.Publish(tc.ev)
		sort.Strings(got)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%+v: got %v want %v", tc.ev, got, tc.want)
		}
	}
	c1()
	c1() // twice is harmless
	got = nil
	b.Publish(mailstore.Event{User: "u", Mailbox: "INBOX"})
	sort.Strings(got)
	if !reflect.DeepEqual(got, []string{"all:INBOX", "every:INBOX"}) {
		t.Fatalf("after cancel: %v", got)
	}
	if d, w := b.Subscribers("u", "INBOX"); d != 0 || w != 1 {
		t.Fatalf("subscribers %d %d", d, w)
	}
}

// TestCallbackMaySubscribe: callbacks run outside the bus lock.
func TestCallbackMaySubscribe(t *testing.T) {
	b := New()
	var cancel func()
	cancel = b.Subscribe("u", "", func(mailstore.Event) {
		cancel()
		b.Subscribe("u", "", func(mailstore.Event) {})
	})
	b.Publish(mailstore.Event{User: "u", Mailbox: "INBOX"})
	if _, w := b.Subscribers("u", ""); w != 1 {
		t.Fatalf("%d user-wide subscribers", w)
	}
}

// TestCancelOneOfMany cancels subscriptions of one key in different
// orders: the others keep their events, and a key with none left is
// dropped, so the bus holds nothing for users no one watches.
func TestCancelOneOfMany(t *testing.T) {
	tests := []struct {
		name  string
		order []int // which subscriptions to cancel, in turn
	}{
		{"first", []int{0}},
		{"middle", []int{1}},
		{"last", []int{2}},
		{"all forwards", []int{0, 1, 2}},
		{"all backwards", []int{2, 1, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := New()
			got := map[int]int{}
			var cancels []func()
			for i := range 3 {
				cancels = append(cancels, b.Subscribe("u", "INBOX", func(mailstore.Event) { got[i]++ }))
			}
			gone := map[int]bool{}
			for _, i := range tc.order {
				cancels[i]()
				gone[i] = true
			}
			b.Publish(mailstore.Event{User: "u", Mailbox: "INBOX"})
			for i := range 3 {
				if want := map[bool]int{false: 1, true: 0}[gone[i]]; got[i] != want {
					t.Errorf("subscription %d got %d events, want %d", i, got[i], want)
				}
			}
			if d, _ := b.Subscribers("u", "INBOX"); d != 3-len(tc.order) {
				t.Errorf("%d subscribers left", d)
			}
			if len(tc.order) == 3 && len(b.subs) != 0 {
				t.Errorf("bus holds %d keys with no subscriber", len(b.subs))
			}
		})
	}
}
