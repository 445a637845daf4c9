package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/dormouse/dormouse/config"
	"github.com/dormouse/dormouse/internal/tlsutil"
)

// defaultDataDir is where everything lives unless --data says otherwise.
const defaultDataDir = "dormouse-data"

// layout names the files and folders inside a data folder.
type layout struct {
	data    string // the data folder
	config  string // dormouse.toml
	passwd  string // Dovecot-style passwd-file
	mail    string // the mail store's root
	spool   string // large APPEND literals and LMTP messages in transit
	tlsDir  string // the generated CA and certificate
	tlsCert string // certificate in use
	tlsKey  string
}

// loadConfig finds and reads the configuration: the file named by
// configFlag, else <data>/dormouse.toml when it exists, else the defaults.
// dataFlag ("" when not given) overrides the file's data_dir, which is the
// file's own folder when the file leaves it out. So every way of naming the
// same data folder (--data, --config inside it, or neither from the folder
// above it) finds the same data on every start.
func loadConfig(dataFlag, configFlag string) (config.Config, layout, error) {
	cfg := config.Default()
	path := configFlag
	if path == "" {
		dir := dataFlag
		if dir == "" {
			dir = defaultDataDir
		}
		path = filepath.Join(dir, "dormouse.toml")
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			path = ""
			cfg.DataDir = dir
		}
	}
	if path != "" {
		var err error
		if cfg, err = config.Load(path); err != nil {
			return cfg, layout{}, withCode(exitConfigError, err)
		}
	}
	if dataFlag != "" {
		cfg.DataDir = dataFlag
	}
	l := layout{
		data:   cfg.DataDir,
		config: path,
		passwd: cfg.Auth.PasswdFile,
		mail:   cfg.DataDir, // the store keeps users/NAME/Maildir below it,
		spool:  filepath.Join(cfg.DataDir, "spool"),
		tlsDir: filepath.Join(cfg.DataDir, "tls"),
	}
	if l.config == "" {
		l.config = filepath.Join(cfg.DataDir, "dormouse.toml")
	}
	if l.passwd == "" {
		l.passwd = filepath.Join(cfg.DataDir, "passwd")
	}
	l.tlsCert, l.tlsKey = cfg.TLS.Cert, cfg.TLS.Key
	if l.tlsCert == "" {
		f := tlsutil.FilesIn(l.tlsDir)
		l.tlsCert, l.tlsKey = f.ServerCert, f.ServerKey
	}
	return cfg, l, nil
}

// firstStart creates what a fresh data folder lacks: the folders, a
// commented configuration file, the CA and certificate (unless the config
// names its own), and a passwd-file with a user "demo". It returns the demo
// password when it made one.
func firstStart(cfg config.Config, l layout) (demoPassword string, err error) {
	for _, d := range []string{l.data, l.mail, l.spool} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return "", fmt.Errorf("create data folder: %w", err)
		}
	}
	if _, err := os.Stat(l.config); errors.Is(err, os.ErrNotExist) {
		// Its data_dir, left out, is its own folder, so the data folder
		// can move as a whole.
		if _, err := config.WriteDefaultFile(l.config, config.Default()); err != nil {
			return "", err
		}
	}
	if cfg.TLS.Cert == "" {
		if _, _, err := tlsutil.EnsureSelfSigned(l.tlsDir); err != nil {
			return "", fmt.Errorf("create certificate: %w", err)
		}
	}
	if _, err := os.Stat(l.passwd); errors.Is(err, os.ErrNotExist) {
		pw, err := randomPassword()
		if err != nil {
			return "", err
		}
		if err := addUser(l.passwd, "demo", pw); err != nil {
			return "", err
		}
		return pw, nil
	}
	return "", nil
}
