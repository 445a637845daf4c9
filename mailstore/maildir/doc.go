// Package maildir implements mailstore.Store on Maildir++ folders with a
// per-user bbolt index.
//
// # Layout
//
//	<root>/users/<user>/Maildir/           INBOX (cur/ new/ tmp/)
//	<root>/users/<user>/Maildir/.Sent/     mailbox "Sent"
//	<root>/users/<user>/Maildir/.A.B/      mailbox "A/B"
//	<root>/users/<user>/index.db           the bbolt index
//	<root>/users/<user>/uidvalidity        last UIDVALIDITY given out
//
// Mailbox names use "/" as the hierarchy separator in the API and "." on
// disk (Maildir++). Inside one level of a name, "." and "%" are written as
// "%2E" and "%25", so "v1.2/x" is the folder ".v1%2E2.x". Nothing else is
// escaped: names are UTF-8 on disk as in the API.
//
// # Files
//
// A message file is named "<base>:2,<info>" in cur/, where info holds the
// Maildir system flags in ASCII order (D draft, F flagged, R answered,
// S seen, T deleted); letters the index does not manage (P, lowercase
// Dovecot keywords) are kept as found. Files Dormouse writes have bases
// like "1764300000.M123456P42Q7.host,S=1234,W=1260": S is the size on disk
// and W the size with CRLF line ends (RFC822.SIZE), as Dovecot writes them.
// Keywords live only in the index, except in a mailbox taken over from
// Dovecot (below).
//
// # A Maildir Dovecot served
//
// A folder with a dovecot-uidlist keeps, when it first gets index state,
// Dovecot's UIDVALIDITY, UIDs and UIDNEXT, the keywords its file names'
// letters stand for (dovecot-keywords) and the HIGHESTMODSEQ Dovecot
// reached (dovecot.index.log); a user's subscriptions and modified UTF-7
// folder names are taken over at the first login (dovecot.go). Such a
// mailbox keeps Dovecot's files current for a way back: each new UID is
// appended to its dovecot-uidlist and keywords are written as letters.
//
// # Index
//
// The index is the source of UIDs and MODSEQs. Every change, including ones
// found on disk (a file moved into new/, a flag rename in cur/, a deleted
// file), gets a new MODSEQ in one bbolt write transaction, so a reader never
// sees half a change and there is one writer per user at a time. A missing
// or unreadable index is rebuilt from the Maildir with new UIDVALIDITY
// values.
//
// # Concurrency
//
// All handles of one user share one bbolt database, opened with the first
// handle and closed with the last (a Watch does not hold it, so hibernated
// sessions keep no file open; an index lingers open for a second after
// its last handle, since a delivery to a sleeping user opens it three
// times within milliseconds). bbolt allows one write transaction at a
// time and any number of readers, which see a consistent snapshot. File
// renames, links and removals that go with an index change are done
// inside its write transaction, so the watcher, which applies disk changes
// in write transactions too, never mistakes them for outside changes.
//
// # Changes on disk
//
// A mailbox that has an open handle or a Watch is watched with inotify on
// its new/ and cur/: one watch per folder however many holders, all on one
// inotify descriptor read by one goroutine. Every hibernated user holds
// such a watch, so its bookkeeping is kept small: a map from watch
// descriptor to a slot of the mailbox's record, and no path (one is made
// again from the user and mailbox name when needed). Elsewhere than on
// Linux, fsnotify stands in for inotify. A watched folder that is removed
// or moved away ends its watch; the mailbox then counts as unwatched, as
// below, until a hold or a Maildir root event watches it again.
//
// On Linux a held mailbox's tmp/ is watched too, for creations alone: an
// MDA writes (and fsyncs) a message there before renaming it into new/,
// so a file created in tmp/ announces a delivery. The user's index, if
// closed, is opened then and left to linger (Store.warm), and the
// delivery's transaction finds it open; nothing is read or changed, and
// warming stops while 256 indexes linger.
//
// The first file event after a quiet spell is applied at once, so a
// delivery reaches IDLE clients without delay; events that follow within
// Options.EventDelay (10 ms) are gathered and applied together, one
// transaction per mailbox per delay while a burst lasts. Events that are
// echoes of this process's own changes are recognized in a read
// transaction and cost no write. A user-wide Watch also watches the
// Maildir root, so folders made or removed by other tools become
// MailboxCreated/MailboxDeleted. Opening a mailbox (or reading its status)
// that was not watched compares the mtimes of new/ and cur/ with those of
// the last full rescan and rescans on a difference. An inotify queue
// overflow rescans everything watched.
//
// # Events
//
// Every change, from this process or from disk, is published on a
// notify.Bus after its transaction committed, outside every lock. Events
// are hints: watchers ask ChangesSince to learn the details. The Store is also a
// mailstore.EarlyAnnouncer (early.go): a transaction that only adds
// messages announces them to its early watchers before its commit, with
// what a watcher that knew the mailbox just before needs to follow on;
// until the commit returns, every read transaction of the user waits, so
// nobody reads a UID before it lasts. The announcement comes as soon as
// the UIDs are assigned: before the
// moves of delivered files from new/ to cur/ and before an Append's
// fsyncs, which all still come before the commit or, for cur/ after an
// Append, beside it, before the announcement ends (finishMoves,
// AppendMany).
//
// # The \Recent flag
//
// As in Dovecot, each mailbox keeps a first-recent UID, the mark: a
// session's claim (ClaimRecent) takes the messages from there to the
// UIDNEXT it has learned as recent and moves the mark, in one
// compare-and-advance under one lock (recent.go), so a message is recent
// in exactly one session; a session claims when it selects the mailbox
// and when it learns of new messages, awake or hibernated. The mark moves in memory at
// once, stays there while the index is open, and reaches the index with
// the mailbox's next write, or before the index closes: \Recent is session state, and a commit of its own (two
// fdatasyncs) would come between a delivery and the sleeping client it
// wakes. A crash loses the unwritten claims: those messages are recent
// again for the first session after the restart.
//
// # Snapshots
//
// The Flags slices of Snapshot.Messages are shared between messages with
// the same flags (a 100,000-message mailbox has a handful of distinct
// sets): treat them as read-only. Snapshots of the same mailbox state
// share one Messages list (a user's devices selecting the INBOX together
// hold one in their views, imapview; a view that changes a message
// copies the block of 64 it is in, mailstore.MessageList);
// the store holds the list weakly, so it lives as long as a view uses
// it, and 30 s after the last view took it while the index is open and
// the mailbox unchanged (listLinger), for a client that connects anew for
// each SELECT. Each block of the list keeps the highest MODSEQ of its
// messages (MessageList.ChangedSince), through which CHANGEDSINCE and
// QRESYNC find the changed messages of a large mailbox. It is read from
// packed chunks of 256 UIDs (about 24 bytes a message, listchunk.go)
// that every change writes beside the records in the same transaction;
// an index from before them is read from the records until its first
// write transaction writes them.
//
// # Expunged messages
//
// A session keeps seeing a message another session expunged until it is
// told (RFC 9051 7.5.1), as Dovecot's views do: its view holds the record;
// the expunge log keeps the record too (ExpungedMessages, for a session
// rebuilt from its UIDs after hibernation) and the envelope header, read
// from the file before Expunge or Move removes it when no client had asked
// for it yet (keepExpungedEnvelope), until the log is trimmed. The file
// itself is gone: FETCH BODY[] of such a message answers NIL.
//
// # Durability
//
// Append writes the message into tmp/ and starts its fsync; inside the
// index's write transaction it gives it a UID, waits for that fsync,
// renames it into cur/ and commits while cur/ is fsynced; it returns once
// both are done. UIDNEXT is committed in the same transaction as the
// message, so a UID that was acknowledged is never given out again; a
// file that reached cur/ without its transaction committing is found by
// the next rescan and gets a fresh UID, and a UID committed without its
// file's rename (a power loss before the Append returned) is expunged by
// it.
package maildir
