package pii

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/lianmeng/lianmeng/gateway/internal/keyfile"
)

// DevKeyFile is the file LoadOrCreateDevKeys keeps its keys in.
const DevKeyFile = "pii.keys"

// NewKeyEntry returns a fresh "id:hex32" entry for the encryption key list;
// prepend it to the configuration to rotate.
func NewKeyEntry(id string) (string, error) {
	if err := checkKeyID(id); err != nil {
		return "", fmt.Errorf("pii: %w", err)
	}
	return id + ":" + hex.EncodeToString(randomBytes(keySize)), nil
}

// NewIndexKey returns a fresh 32-byte index key in hex.
func NewIndexKey() string { return hex.EncodeToString(randomBytes(32)) }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand since Go 1.24)
	return b
}

// LoadOrCreateDevKeys returns the encryption-key list and index key kept in
// dir/pii.keys, creating them (file 0600, directory 0700) if the file does
// not exist. generated=true tells the caller to warn loudly: development keys
// on local disk are not production key management. A key file readable by
// group or others is refused.
//
// The file holds two lines, "encryption_keys=..." and "index_key=...".
func LoadOrCreateDevKeys(dir string) (encKeys, indexKey string, generated bool, err error) {
	path := filepath.Join(dir, DevKeyFile)
	enc, idx, err := readDevKeys(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return enc, idx, false, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", false, fmt.Errorf("pii: create key directory: %w", err)
	}
	entry, err := NewKeyEntry("dev1")
	if err != nil {
		return "", "", false, err
	}
	content := "# Lianmeng development keys for personal data. Do not use in production.\n" +
		"encryption_keys=" + entry + "\nindex_key=" + NewIndexKey() + "\n"
	// keyfile writes, fsyncs and links the file into place: the link fails
	// if another process got there first, nobody reads a half-written file,
	// and a power loss cannot leave an empty key file behind.
	created, err := keyfile.WriteExclusive(path, []byte(content), 0o600)
	if err != nil {
		return "", "", false, fmt.Errorf("pii: dev keys: %w", err)
	}
	if !created {
		enc, idx, err := readDevKeys(path) // lost the race: use the winner's keys
		return enc, idx, false, err
	}
	enc, idx, err = readDevKeys(path)
	return enc, idx, err == nil, err
}

func readDevKeys(path string) (enc, idx string, err error) {
	data, err := keyfile.ReadPrivate(path) // refuses a file group or others can read
	if err != nil {
		return "", "", fmt.Errorf("pii: dev keys: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok {
			switch k {
			case "encryption_keys":
				enc = v
			case "index_key":
				idx = v
			}
		}
	}
	if err := sc.Err(); err != nil {
		return "", "", fmt.Errorf("pii: key file %s: %w", path, err)
	}
	if enc == "" || idx == "" {
		return "", "", fmt.Errorf("pii: key file %s lacks encryption_keys= or index_key= lines", path)
	}
	return enc, idx, nil
}

// LoadDevKeyring reads the keys kept in dir/pii.keys by LoadOrCreateDevKeys
// and never creates any: for tools such as reencrypt, for which fresh keys
// would be wrong. A missing file is an error wrapping fs.ErrNotExist.
func LoadDevKeyring(dir string) (*Keyring, error) {
	path := filepath.Join(dir, DevKeyFile)
	enc, idx, err := readDevKeys(path)
	if err != nil {
		return nil, err
	}
	k, err := NewKeyring(enc, idx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// LoadOrCreateDevKeyring is LoadOrCreateDevKeys followed by NewKeyring.
func LoadOrCreateDevKeyring(dir string) (k *Keyring, generated bool, err error) {
	enc, idx, generated, err := LoadOrCreateDevKeys(dir)
	if err != nil {
		return nil, false, err
	}
	k, err = NewKeyring(enc, idx)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", filepath.Join(dir, DevKeyFile), err)
	}
	return k, generated, nil
}
