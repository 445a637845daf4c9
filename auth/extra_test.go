package auth

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestUserField reads userdb extra fields of Dovecot passwd-file lines,
// with and without the userdb_ prefix, numbered repeats, and colons in
// the values.
func TestUserField(t *testing.T) {
	path := filepath.Join(t.TempDir(), "passwd")
	data := "alice:{PLAIN}a::::::userdb_quota_rule=*:storage=1G userdb_quota_rule2=*:messages=10 mail=maildir:~/M\n" +
		"bob:{PLAIN}b:1000:1000::/home/bob::quota_rule=*:bytes=100\n" +
		"carol:{PLAIN}c\n" +
		"dave:{PLAIN}d:1:2:gecos\n"
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user   string
		want   []string
		wantOK bool
	}{
		{"alice", []string{"*:storage=1G", "*:messages=10"}, true},
		{"ALICE", []string{"*:storage=1G", "*:messages=10"}, true},
		{"bob", []string{"*:bytes=100"}, true},
		{"carol", nil, true},
		{"dave", nil, true},
		{"erin", nil, false},
	}
	for _, tt := range tests {
		got, ok, err := p.UserField(tt.user, "quota_rule")
		if err != nil || ok != tt.wantOK || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("UserField(%s) = %q, %v, %v; want %q, %v", tt.user, got, ok, err, tt.want, tt.wantOK)
		}
	}
}
