package main

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/lianmeng/lianmeng/gateway/config"
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
