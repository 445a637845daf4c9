package maildir

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/dormouse/dormouse/mailstore"
)

// ReadQuota reads a user's quota from the Maildir under root without a
// Store and without changing anything: for an MDA (`dormouse deliver`)
// while no server holds the index. Usage is the index's mailbox counters
// plus the messages waiting in each folder's new/ (which no server has
// taken into the index yet); with no index, every message in cur/ and
// new/ counts. limits gives the configured limits; those set by
// SETQUOTA, kept in the index, take precedence. A file's size is its
// ",W=" size when its name has one, else its size on disk.
func ReadQuota(root, user string, limits func(string) mailstore.QuotaLimits) (mailstore.Quota, error) {
	var q mailstore.Quota
	if limits != nil {
		q.Limits = limits(user)
	}
	dir := filepath.Join(root, "users", user)
	maildir := filepath.Join(dir, "Maildir")
	indexed := false
	path := filepath.Join(dir, indexFile)
	if _, err := os.Stat(path); err == nil {
		db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 10 * time.Second})
		if err != nil {
			return q, fmt.Errorf("read quota of %s: %w", user, err)
		}
		err = db.View(func(tx *bolt.Tx) error {
			if tx.Bucket(bktMeta) == nil || tx.Bucket(bktBoxes) == nil {
				return nil
			}
			indexed = true
			if v := tx.Bucket(bktMeta).Get(keyQuotaLimits); v != nil {
				d := decoder{b: v}
				l := mailstore.QuotaLimits{Storage: int64(d.uvarint()), Messages: int64(d.uvarint())}
				if d.err == nil {
					q.Limits = l
				}
			}
			var err error
			q.Usage, err = usage(tx)
			return err
		})
		if cerr := db.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return q, fmt.Errorf("read quota of %s: %w", user, err)
		}
	}
	subs := []string{"new"}
	if !indexed {
		subs = append(subs, "cur")
	}
	for _, name := range listMailboxDirs(maildir) {
		for _, sub := range subs {
			if err := addFolderUsage(&q.Usage, filepath.Join(maildir, dirName(name), sub)); err != nil {
				return q, fmt.Errorf("read quota of %s: %w", user, err)
			}
		}
	}
	return q, nil
}

// SizeCounter passes what is written on to a writer and counts its size
// as the index does, with CRLF line ends (RFC822.SIZE): for an MDA that
// writes a message itself and checks it against ReadQuota.
type SizeCounter struct{ c crlfCounter }

// NewSizeCounter returns a SizeCounter writing to w.
func NewSizeCounter(w io.Writer) *SizeCounter { return &SizeCounter{c: crlfCounter{w: w}} }

// Write writes p to the underlying writer.
func (s *SizeCounter) Write(p []byte) (int, error) { return s.c.Write(p) }

// Size is the RFC822.SIZE of what was written.
func (s *SizeCounter) Size() int64 { return s.c.crlf }

// addFolderUsage adds the messages of one folder to us.
func addFolderUsage(us *mailstore.QuotaUsage, dir string) error {
	names, err := listNames(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, n := range names {
		base, _ := splitInfo(n)
		_, size, ok := sizesFromBase(base)
		if !ok {
			fi, err := os.Stat(filepath.Join(dir, n))
			if err != nil {
				continue // moved meanwhile
			}
			size = fi.Size()
		}
		us.Messages++
		us.Storage += size
	}
	return nil
}
