package imapwire

// NotifyArgs are NOTIFY's arguments (RFC 5465 8):
//
//	notify          = "NOTIFY" SP (notify-set / notify-none)
//	notify-none     = "NONE"
//	notify-set      = "SET" [status-indicator] SP event-groups
//	status-indicator = SP "STATUS"
//	event-groups    = event-group *(SP event-group)
//	event-group     = "(" filter-mailboxes SP events ")"
//	events          = ( "(" event *(SP event) ")" ) / "NONE"
//	filter-mailboxes = "selected" / "selected-delayed" / "inboxes" /
//	                  "personal" / "subscribed" /
//	                  ( "subtree" SP one-or-more-mailbox ) /
//	                  ( "mailboxes" SP one-or-more-mailbox )
//	one-or-more-mailbox = mailbox / "(" mailbox *(SP mailbox) ")"
//	message-event   = ( "MessageNew" [SP "(" fetch-att *(SP fetch-att) ")"] ) /
//	                  "MessageExpunge" / "FlagChange" / "AnnotationChange"
//
// Event names are kept as sent (any atom): which ones the server supports
// is its decision (NO [BADEVENT], RFC 5465 3.1), not a syntax error.
type NotifyArgs struct {
	None   bool // NOTIFY NONE
	Status bool // NOTIFY SET STATUS
	Groups []NotifyGroup
}

// NotifyGroup is one event-group.
type NotifyGroup struct {
	// Filter is upper case: SELECTED, SELECTED-DELAYED, INBOXES,
	// PERSONAL, SUBSCRIBED, SUBTREE or MAILBOXES.
	Filter string
	// Mailboxes are the decoded names of SUBTREE and MAILBOXES.
	Mailboxes []string
	// Events is nil for NONE.
	Events []NotifyEvent
}

// NotifyEvent is one event of a group.
type NotifyEvent struct {
	Name  string      // as sent, e.g. "MessageNew"
	Fetch []FetchItem // MessageNew's fetch attributes, nil when none
}

// maxNotifyItems bounds the groups, mailboxes and events of one NOTIFY.
const maxNotifyItems = 1000

// parseNotify reads NOTIFY's arguments.
func (d *Decoder) parseNotify() (*NotifyArgs, error) {
	if err := d.sp(); err != nil {
		return nil, err
	}
	var buf [24]byte
	kw, err := d.keyword(buf[:0])
	if err != nil {
		return nil, err
	}
	switch string(kw) {
	case "NONE":
		return &NotifyArgs{None: true}, nil
	case "SET":
	default:
		return nil, badf("NOTIFY needs SET or NONE")
	}
	a := &NotifyArgs{}
	if err := d.sp(); err != nil {
		return nil, err
	}
	if d.peek() != '(' {
		if kw, err = d.keyword(buf[:0]); err != nil {
			return nil, err
		}
		if string(kw) != "STATUS" {
			return nil, badf("expected STATUS or an event group")
		}
		a.Status = true
		if err := d.sp(); err != nil {
			return nil, err
		}
	}
	items := 0
	for {
		g, err := d.notifyGroup(&items)
		if err != nil {
			return nil, err
		}
		a.Groups = append(a.Groups, g)
		if d.peek() != ' ' {
			return a, nil
		}
		d.pos++
	}
}

// notifyGroup reads one event-group; items counts what the command named
// so far, against maxNotifyItems.
func (d *Decoder) notifyGroup(items *int) (NotifyGroup, error) {
	var g NotifyGroup
	count := func() error {
		if *items++; *items > maxNotifyItems {
			return badf("too many NOTIFY items")
		}
		return nil
	}
	if err := d.expect('('); err != nil {
		return g, err
	}
	if err := count(); err != nil {
		return g, err
	}
	var buf [24]byte
	kw, err := d.keyword(buf[:0])
	if err != nil {
		return g, err
	}
	switch f := string(kw); f {
	case "SELECTED", "SELECTED-DELAYED", "INBOXES", "PERSONAL", "SUBSCRIBED":
		g.Filter = f
	case "SUBTREE", "MAILBOXES":
		g.Filter = f
		if err := d.sp(); err != nil {
			return g, err
		}
		one := func() error {
			if err := count(); err != nil {
				return err
			}
			name, err := d.mailbox()
			if err == nil {
				g.Mailboxes = append(g.Mailboxes, name)
			}
			return err
		}
		if d.peek() == '(' {
			err = d.list(false, one)
		} else {
			err = one()
		}
		if err != nil {
			return g, err
		}
	default:
		return g, badf("unknown NOTIFY filter %q", string(kw))
	}
	if err := d.sp(); err != nil {
		return g, err
	}
	if d.peek() != '(' {
		if kw, err = d.keyword(buf[:0]); err != nil {
			return g, err
		}
		if string(kw) != "NONE" {
			return g, badf("expected NONE or a list of events")
		}
	} else {
		g.Events = []NotifyEvent{}
		err = d.list(false, func() error {
			if err := count(); err != nil {
				return err
			}
			name, err := d.atom()
			if err != nil {
				return err
			}
			ev := NotifyEvent{Name: string(name)}
			// RFC 5465 8: MessageNew may carry its fetch attributes.
			if string(upper(buf[:0], name)) == "MESSAGENEW" && len(d.line) > d.pos+1 && d.line[d.pos] == ' ' && d.line[d.pos+1] == '(' {
				d.pos++
				var fa FetchArgs
				if err := d.list(false, func() error {
					if err := count(); err != nil {
						return err
					}
					return d.fetchAtt(&fa, buf[:0], false)
				}); err != nil {
					return err
				}
				ev.Fetch = fa.Items
			}
			g.Events = append(g.Events, ev)
			return nil
		})
		if err != nil {
			return g, err
		}
	}
	return g, d.expect(')')
}
