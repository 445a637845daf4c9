package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/dormouse/dormouse/auth"
)

func cmdUser(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageErr("want add, del, passwd or list")
	}
	sub := args[0]
	fs := flag.NewFlagSet("user "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataFlag := fs.String("data", "", "data folder (default ./"+defaultDataDir+")")
	configFlag := fs.String("config", "", "configuration file (default DATA/dormouse.toml)")
	pos, err := parseInterleaved(fs, args[1:])
	if err != nil {
		return withCode(exitUsage, err)
	}
	_, l, err := loadConfig(*dataFlag, *configFlag)
	if err != nil {
		return err
	}
	switch sub {
	case "list":
		if len(pos) != 0 {
			return usageErr("user list takes no name")
		}
		names, err := auth.List(l.passwd)
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		for _, n := range names {
			fmt.Fprintln(stdout, n)
		}
		return nil
	case "add", "passwd", "del":
	default:
		return usageErr("unknown user command %q: want add, del, passwd or list", sub)
	}
	if len(pos) != 1 {
		return usageErr("user %s takes one NAME", sub)
	}
	name := pos[0]
	if sub == "del" {
		if err := auth.DeleteUser(l.passwd, name); err != nil {
			if errors.Is(err, auth.ErrNoUser) || errors.Is(err, os.ErrNotExist) {
				return withCode(exitNoUser, err)
			}
			return err
		}
		fmt.Fprintf(stderr, "deleted user %s (mail kept in %s)\n", name, l.mail)
		return nil
	}
	if err := auth.ValidName(name); err != nil {
		return withCode(exitUsage, err)
	}
	if err := os.MkdirAll(l.data, 0o700); err != nil {
		return fmt.Errorf("create data folder: %w", err)
	}
	pw, err := readPassword(stdin, stderr)
	if err != nil {
		return err
	}
	if sub == "add" {
		err = addUser(l.passwd, name, pw)
	} else {
		err = auth.SetPassword(l.passwd, name, pw)
		if errors.Is(err, auth.ErrNoUser) || errors.Is(err, os.ErrNotExist) {
			err = withCode(exitNoUser, err)
		}
	}
	return err
}

func addUser(path, name, password string) error {
	if err := auth.AddUser(path, name, password); err != nil {
		return fmt.Errorf("add user %s: %w", name, err)
	}
	return nil
}

// readPassword reads one line from stdin: at a terminal with a prompt and
// no echo, otherwise as is (for scripts: echo secret | dormouse user add x).
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		return checkPassword(string(b))
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", withCode(exitUsage, fmt.Errorf("read password from stdin: %w", err))
	}
	return checkPassword(strings.TrimRight(line, "\r\n"))
}

func checkPassword(pw string) (string, error) {
	if pw == "" {
		return "", usageErr("empty password")
	}
	return pw, nil
}

// randomPassword returns 96 random bits in URL-safe base64 (16 characters).
func randomPassword() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random password: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
