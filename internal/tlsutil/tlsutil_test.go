package tlsutil

import (
	"bytes"
	"crypto/tls"
	"io"
	"os"
	"testing"
)

// serve accepts TLS connections with cfg on 127.0.0.1 and echoes one line.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, io.LimitReader(c, 5)) //nolint:errcheck // test echo
			}()
		}
	}()
	return ln.Addr().String()
}

func TestGeneratedCAVerifiesServer(t *testing.T) {
	dir := t.TempDir()
	files, created, err := EnsureSelfSigned(dir)
	if err != nil || !created {
		t.Fatalf("EnsureSelfSigned = %v, %v", created, err)
	}
	for _, p := range []string{files.CAKey, files.ServerKey} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", p, fi.Mode().Perm())
		}
	}
	l, err := NewLoader(files.ServerCert, files.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, l.Config())
	pool, err := CertPool(files.CACert)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dial, serverName string
		version                uint16
		ok                     bool
	}{
		{"by IPv4", addr, "127.0.0.1", 0, true},
		{"by name", addr, "localhost", 0, true},
		{"TLS 1.2", addr, "localhost", tls.VersionTLS12, true},
		{"TLS 1.1 refused", addr, "localhost", tls.VersionTLS11, false},
		{"wrong name", addr, "mail.example.org", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &tls.Config{RootCAs: pool, ServerName: tt.serverName}
			if tt.version != 0 {
				cfg.MinVersion, cfg.MaxVersion = tt.version, tt.version
			}
			c, err := tls.Dial("tcp", tt.dial, cfg)
			if !tt.ok {
				if err == nil {
					c.Close()
					t.Fatal("handshake succeeded, want failure")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Write([]byte("hello")) //nolint:errcheck
			got, _ := io.ReadAll(c)
			if string(got) != "hello" {
				t.Errorf("echo = %q", got)
			}
		})
	}
	// The system roots alone must not trust it: the test above really
	// checked against the generated CA.
	if c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "localhost"}); err == nil {
		c.Close()
		t.Error("handshake verified without the generated CA")
	}

	// A second call keeps the files.
	before, _ := os.ReadFile(files.ServerCert)
	if _, created, err := EnsureSelfSigned(dir); err != nil || created {
		t.Fatalf("second EnsureSelfSigned = %v, %v", created, err)
	}
	after, _ := os.ReadFile(files.ServerCert)
	if !bytes.Equal(before, after) {
		t.Error("second EnsureSelfSigned replaced the certificate")
	}
}

func TestReload(t *testing.T) {
	dir1, dir2 := t.TempDir(), t.TempDir()
	f1, _, err := EnsureSelfSigned(dir1)
	if err != nil {
		t.Fatal(err)
	}
	f2, _, err := EnsureSelfSigned(dir2)
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLoader(f1.ServerCert, f1.ServerKey)
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, l.Config())
	dial := func(ca string) error {
		pool, err := CertPool(ca)
		if err != nil {
			t.Fatal(err)
		}
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "localhost"})
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial(f1.CACert); err != nil {
		t.Fatalf("before reload: %v", err)
	}
	// Replace the files (as an operator renewing a certificate would) and reload.
	for _, p := range [][2]string{{f2.ServerCert, f1.ServerCert}, {f2.ServerKey, f1.ServerKey}} {
		data, err := os.ReadFile(p[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p[1], data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Reload(); err != nil {
		t.Fatal(err)
	}
	if err := dial(f2.CACert); err != nil {
		t.Errorf("after reload, new CA: %v", err)
	}
	if err := dial(f1.CACert); err == nil {
		t.Error("after reload, old CA still verifies")
	}
	// A broken file keeps the certificate in use.
	if err := os.WriteFile(f1.ServerCert, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := l.Reload(); err == nil {
		t.Error("Reload of a broken file: no error")
	}
	if err := dial(f2.CACert); err != nil {
		t.Errorf("after failed reload: %v", err)
	}
}
