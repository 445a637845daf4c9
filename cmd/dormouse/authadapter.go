package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/dormouse/dormouse/auth"
	"github.com/dormouse/dormouse/imapserver"
)

// imapAuth adapts a passwd-file to imapserver.Authenticator, which tells a
// wrong password from a broken back end by imapserver.ErrBadCredentials:
// auth keeps its own sentinel so that it need not import the server.
type imapAuth struct{ pf *auth.PasswdFile }

func (a imapAuth) Authenticate(ctx context.Context, username, password string) (string, error) {
	name, err := a.pf.Authenticate(ctx, username, password)
	if errors.Is(err, auth.ErrBadCredentials) && !errors.Is(err, imapserver.ErrBadCredentials) {
		return "", fmt.Errorf("%w: %w", imapserver.ErrBadCredentials, err)
	}
	return name, err
}
