// Package tlsutil sets up TLS for the server: a self-signed CA and a
// localhost certificate made on first start, and a certificate loader that
// can be told to reload (on SIGHUP) without dropping connections.
package tlsutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// Files names the PEM files of a generated CA and server certificate.
type Files struct {
	CACert, CAKey         string
	ServerCert, ServerKey string
}

// FilesIn returns where EnsureSelfSigned keeps its files under dir.
func FilesIn(dir string) Files {
	return Files{
		CACert:     filepath.Join(dir, "ca.crt"),
		CAKey:      filepath.Join(dir, "ca.key"),
		ServerCert: filepath.Join(dir, "server.crt"),
		ServerKey:  filepath.Join(dir, "server.key"),
	}
}

// EnsureSelfSigned makes, in dir, a CA and a server certificate for
// localhost, 127.0.0.1 and ::1 signed by it (ECDSA P-256), unless the
// server certificate is already there. A client that trusts ca.crt can then
// verify the server without skipping checks. It reports whether it made
// new files.
func EnsureSelfSigned(dir string) (Files, bool, error) {
	f := FilesIn(dir)
	if _, err := os.Stat(f.ServerCert); err == nil {
		return f, false, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return f, false, fmt.Errorf("tls folder: %w", err)
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return f, false, fmt.Errorf("ca key: %w", err)
	}
	host, _ := os.Hostname()
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "Dormouse local CA " + host, Organization: []string{"Dormouse"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return f, false, fmt.Errorf("ca certificate: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return f, false, fmt.Errorf("ca certificate: %w", err)
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return f, false, fmt.Errorf("server key: %w", err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "localhost", Organization: []string{"Dormouse"}},
		NotBefore:    now.Add(-time.Hour),
		// 825 days: the longest validity Apple's clients accept.
		NotAfter:    now.AddDate(0, 0, 825),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		return f, false, fmt.Errorf("server certificate: %w", err)
	}
	// Keys first, the server certificate last: its presence is what marks
	// the set complete on the next start.
	for _, w := range []struct {
		path string
		typ  string
		der  []byte
		key  *ecdsa.PrivateKey
	}{
		{f.CAKey, "PRIVATE KEY", nil, caKey},
		{f.CACert, "CERTIFICATE", caDER, nil},
		{f.ServerKey, "PRIVATE KEY", nil, srvKey},
		{f.ServerCert, "CERTIFICATE", srvDER, nil},
	} {
		der := w.der
		if w.key != nil {
			if der, err = x509.MarshalPKCS8PrivateKey(w.key); err != nil {
				return f, false, fmt.Errorf("%s: %w", w.path, err)
			}
		}
		// Certificates are public (ca.crt is meant to be handed to
		// clients); keys are readable by the owner only.
		mode := os.FileMode(0o644)
		if w.key != nil {
			mode = 0o600
		}
		if err := writeFile(w.path, pem.EncodeToMemory(&pem.Block{Type: w.typ, Bytes: der}), mode); err != nil {
			return f, false, err
		}
	}
	return f, true, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return n
}

// writeFile writes data to path through a temporary file and a rename, so
// a crash leaves either no file or a whole one.
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(mode)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Loader holds a certificate read from files and hands it to TLS
// handshakes. Reload swaps in a new one; handshakes in progress keep the
// old. Safe for concurrent use.
type Loader struct {
	certFile, keyFile string
	cert              atomic.Pointer[tls.Certificate]
}

// NewLoader reads the certificate chain and key (PEM).
func NewLoader(certFile, keyFile string) (*Loader, error) {
	l := &Loader{certFile: certFile, keyFile: keyFile}
	if err := l.Reload(); err != nil {
		return nil, err
	}
	return l, nil
}

// Reload reads the files again. On error the certificate in use is kept.
func (l *Loader) Reload() error {
	c, err := tls.LoadX509KeyPair(l.certFile, l.keyFile)
	if err != nil {
		return fmt.Errorf("load certificate %s: %w", l.certFile, err)
	}
	l.cert.Store(&c)
	return nil
}

// GetCertificate is a tls.Config.GetCertificate.
func (l *Loader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c := l.cert.Load()
	if c == nil {
		return nil, errors.New("no certificate loaded")
	}
	return c, nil
}

// Config returns a server tls.Config using the loader, TLS 1.2 and up.
func (l *Loader) Config() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: l.GetCertificate,
	}
}

// CertPool returns a pool holding the CA certificate(s) in the PEM file at
// path, for clients (and tests) that trust only the generated CA.
func CertPool(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ca file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("ca file %s: no certificate", path)
	}
	return pool, nil
}
