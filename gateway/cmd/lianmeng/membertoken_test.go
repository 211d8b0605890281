package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lianmeng/lianmeng/gateway/config"
	"github.com/lianmeng/lianmeng/gateway/evidence"
	"github.com/lianmeng/lianmeng/gateway/pii"
)

// The development member-token key is created once and reused, so member
// tokens survive a restart; a configured key is left alone.
func TestMemberTokenKeyPersists(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := config.Default()
	cfg.Database.DSN = config.Secret(filepath.Join(t.TempDir(), "lm.db"))
	first, second := cfg, cfg
	if err := ensureMemberTokenKey(&first, log); err != nil {
		t.Fatal(err)
	}
	if err := ensureMemberTokenKey(&second, log); err != nil {
		t.Fatal(err)
	}
	if first.Auth.MemberTokenKey == "" || first.Auth.MemberTokenKey != second.Auth.MemberTokenKey {
		t.Fatal("the development key was not reused")
	}
	set := cfg
	set.Auth.MemberTokenKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	if err := ensureMemberTokenKey(&set, log); err != nil || set.Auth.MemberTokenKey != "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff" {
		t.Fatalf("configured key changed: %v", err)
	}
}

// A configured member-token key shorter than 32 bytes, or not hex, stops
// serve at start with a message naming the setting and never the key.
func TestMemberTokenKeyTooShortRefused(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, key := range []string{
		"a",
		"00112233445566778899aabbccddeeff", // 16 bytes
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddee",  // 31 bytes
		"this passphrase is longer than thirty-two bytes but is not hex",  // not hex
		"00112233445566778899aabbccddeeff00112233445566778899aabbccddeef", // odd length
	} {
		cfg := config.Default()
		cfg.Database.DSN = config.Secret(filepath.Join(t.TempDir(), "lm.db"))
		cfg.Auth.MemberTokenKey = config.Secret(key)
		err := ensureMemberTokenKey(&cfg, log)
		if err == nil || !strings.Contains(err.Error(), "auth.member_token_key") || !strings.Contains(err.Error(), "64 hex digits") {
			t.Fatalf("key %q: %v", key, err)
		}
		if len(key) > 1 && strings.Contains(err.Error(), key) {
			t.Fatalf("error repeats the key: %v", err)
		}
	}
	cfg := config.Default()
	cfg.Auth.MemberTokenKey = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
	if err := ensureMemberTokenKey(&cfg, log); err != nil {
		t.Fatalf("32-byte key: %v", err)
	}

	// serve itself refuses to start.
	cfg = testConfig(t)
	cfg.Auth.MemberTokenKey = "a"
	err := serve(context.Background(), cfg, log, nil)
	if err == nil || !strings.Contains(err.Error(), "auth.member_token_key: too short (1 characters)") {
		t.Fatalf("serve with a 1-byte member-token key: %v", err)
	}
}

// The development member-token key file is refused, like every key file,
// when group or others can read it, and when it holds a short key.
func TestMemberTokenKeyFileChecked(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := config.Default()
	cfg.Database.DSN = config.Secret(filepath.Join(t.TempDir(), "lm.db"))
	first := cfg
	if err := ensureMemberTokenKey(&first, log); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(evidenceKeyDir(cfg), memberTokenKeyFile)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi, err)
	}
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604} {
		os.Chmod(path, mode)
		again := cfg
		err := ensureMemberTokenKey(&again, log)
		if err == nil || !strings.Contains(err.Error(), "chmod 600") || again.Auth.MemberTokenKey != "" {
			t.Fatalf("mode %v: %v", mode, err)
		}
	}
	os.Chmod(path, 0o600)
	if err := os.WriteFile(path, []byte("abcd\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	again := cfg
	if err := ensureMemberTokenKey(&again, log); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Fatalf("short key file: %v", err)
	}
}

// serve refuses to start while any development key file (checkpoint
// signing key, personal-data keys, member-token key) is open to group or
// others, naming the file; the public key may be world-readable.
func TestServeRefusesOpenKeyFiles(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := testConfig(t)
	start := func() error {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		ready := make(chan string, 1)
		done := make(chan error, 1)
		go func() { done <- serve(ctx, cfg, log, ready) }()
		select {
		case <-ready:
			cancel()
			return <-done
		case err := <-done:
			return err
		}
	}
	if err := start(); err != nil { // generates every development key
		t.Fatal(err)
	}
	dir := evidenceKeyDir(cfg)
	for _, name := range []string{evidence.PrivateKeyFile, pii.DevKeyFile, memberTokenKeyFile} {
		path := filepath.Join(dir, name)
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", name, fi, err)
		}
		os.Chmod(path, 0o644)
		err := start()
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("serve with %s mode 0644: %v", name, err)
		}
		os.Chmod(path, 0o600)
	}
	if err := start(); err != nil {
		t.Fatalf("after chmod 600: %v", err)
	}
}
