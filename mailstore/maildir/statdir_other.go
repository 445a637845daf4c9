//go:build !linux

package maildir

import "path/filepath"

// statDir Lstats the files of one folder by name.
type statDir struct{ dir string }

// openStatDir returns the statDir of dir.
func openStatDir(dir string) *statDir { return &statDir{dir: dir} }

// stat returns the facts of the file name in the folder.
func (d *statDir) stat(name string) fileFacts { return statFile(filepath.Join(d.dir, name)) }

// close does nothing here.
func (d *statDir) close() {}
