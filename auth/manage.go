package auth

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// AddUser adds name, in its CanonicalName form, with password (hashed
// with DefaultScheme) to the passwd-file at path, creating the file if
// needed. A user whose name differs only in case already exists.
func AddUser(path, name, password string) error {
	name = CanonicalName(name)
	if err := ValidName(name); err != nil {
		return fmt.Errorf("add user: %w", err)
	}
	hash, err := HashPassword(DefaultScheme, password)
	if err != nil {
		return fmt.Errorf("add user %q: %w", name, err)
	}
	return edit(path, true, func(lines []line) ([]line, error) {
		for _, l := range lines {
			if sameUser(l.name, name) {
				return nil, fmt.Errorf("add user %q: %w", name, ErrUserExists)
			}
		}
		return append(lines, line{name: name, hash: hash}), nil
	})
}

// SetPassword replaces the password of name (compared by CanonicalName)
// in the passwd-file at path, keeping the line's extra fields.
func SetPassword(path, name, password string) error {
	hash, err := HashPassword(DefaultScheme, password)
	if err != nil {
		return fmt.Errorf("set password of %q: %w", name, err)
	}
	return edit(path, false, func(lines []line) ([]line, error) {
		for i := range lines {
			if sameUser(lines[i].name, name) {
				lines[i].hash = hash
				return lines, nil
			}
		}
		return nil, fmt.Errorf("set password of %q: %w", name, ErrNoUser)
	})
}

// DeleteUser removes name (compared by CanonicalName) from the
// passwd-file at path. The user's mail is left alone.
func DeleteUser(path, name string) error {
	return edit(path, false, func(lines []line) ([]line, error) {
		for i := range lines {
			if sameUser(lines[i].name, name) {
				return append(lines[:i], lines[i+1:]...), nil
			}
		}
		return nil, fmt.Errorf("delete user %q: %w", name, ErrNoUser)
	})
}

// sameUser reports whether a passwd-file line's name (possibly "" for a
// comment) names the user name.
func sameUser(lineName, name string) bool {
	return lineName != "" && CanonicalName(lineName) == CanonicalName(name)
}

// List returns the user names in the passwd-file at path, sorted.
func List(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	lines, err := parse(data)
	if err != nil {
		return nil, fmt.Errorf("list users: %s: %w", path, err)
	}
	var names []string
	for _, l := range lines {
		if l.name != "" {
			names = append(names, l.name)
		}
	}
	sort.Strings(names)
	return names, nil
}

// edit rewrites the passwd-file at path through fn, atomically: the new
// content goes to a temporary file in the same folder, is fsynced and
// renamed over the old one, so a reader sees the old file or the new one,
// never half of either. A lock file serialises concurrent editors (two
// `dormouse user add` at once must not lose a user).
func edit(path string, create bool, fn func([]line) ([]line, error)) error {
	dir := filepath.Dir(path)
	lock, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return fmt.Errorf("passwd-file lock: %w", err)
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("passwd-file lock: %w", err)
	}
	defer unix.Flock(int(lock.Fd()), unix.LOCK_UN) //nolint:errcheck // Close releases it anyway

	data, err := os.ReadFile(path)
	if err != nil && !(create && os.IsNotExist(err)) {
		return fmt.Errorf("passwd-file: %w", err)
	}
	lines, err := parse(data)
	if err != nil {
		return fmt.Errorf("passwd-file %s: %w", path, err)
	}
	lines, err = fn(lines)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.String())
		b.WriteByte('\n')
	}

	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("passwd-file: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("passwd-file: %w", err)
	}
	if _, err := tmp.WriteString(b.String()); err != nil {
		tmp.Close()
		return fmt.Errorf("passwd-file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("passwd-file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("passwd-file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("passwd-file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the rename durable; not all filesystems support it
		d.Close()
	}
	return nil
}
