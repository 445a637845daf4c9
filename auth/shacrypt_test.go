package auth

import (
	"os/exec"
	"strings"
	"testing"
)

// Vectors from the SHA-crypt specification, as `openssl passwd -5/-6` also
// prints them.
func TestShaCryptVectors(t *testing.T) {
	tests := []struct{ password, hash string }{
		{"Hello world!", "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"},
		{"Hello world!", "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."},
		{"Hello world!", "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"},
		{"Hello world!", "$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA"},
		{"we have a short salt string but not a short password", "$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0"},
		{"a very much longer text to encrypt.  This one even stretches over morethan one line.", "$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1"},
	}
	for i, tt := range tests {
		ok, err := verify("{SHA512-CRYPT}"+tt.hash, tt.password)
		if err != nil || !ok {
			got, _ := shaCrypt(tt.hash, tt.password)
			t.Errorf("verify(%q) = %v, %v; computed %q", tt.hash, ok, err, got)
		}
		if i > 0 {
			continue // one wrong-password check is enough; rounds cost time
		}
		if ok, _ := verify("{CRYPT}"+tt.hash, tt.password+"x"); ok {
			t.Errorf("verify(%q) accepted a wrong password", tt.hash)
		}
	}
}

// Cross-check with openssl for passwords of many lengths (the algorithm
// has branches on the length), when openssl is installed.
func TestShaCryptOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl not installed")
	}
	for _, alg := range []string{"-5", "-6"} {
		for _, n := range []int{1, 31, 32, 33, 63, 64, 65, 100, 200} {
			pw := strings.Repeat("pässwörd", 20)[:n]
			out, err := exec.Command(openssl, "passwd", alg, "-salt", "Dormouse.Salt/12", pw).Output()
			if err != nil {
				t.Fatalf("openssl passwd: %v", err)
			}
			want := strings.TrimSpace(string(out))
			got, err := shaCrypt(want, pw)
			if err != nil || got != want {
				t.Errorf("shaCrypt(%s, %d bytes) = %q, %v; openssl says %q", alg, n, got, err, want)
			}
		}
	}
}
