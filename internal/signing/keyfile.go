package signing

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// LoadOrCreateKey reads the PEM ed25519 private key at path, or creates one there (mode 0600)
// when the file does not exist. The new key is written to a temporary file first and linked
// into place, so processes starting together never read a half-written key: the one that
// loses the race reads the winner's. what names the key in errors ("checkpoint key").
func LoadOrCreateKey(path, what string) (ed25519.PrivateKey, error) {
	if b, err := os.ReadFile(path); err == nil {
		k, err := ParsePrivate(b)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", what, path, err)
		}
		return k, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	_, priv, err := GenerateKey()
	if err != nil {
		return nil, err
	}
	pemBytes, err := MarshalPrivate(priv)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	tmp, err := os.CreateTemp(dir, ".key-*")
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(pemBytes); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) { // another process created it meanwhile
			return LoadOrCreateKey(path, what)
		}
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	return priv, nil
}
