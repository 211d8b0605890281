package store

import (
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/go-sql-driver/mysql"
)

func TestIsUnavailable(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: fmt.Errorf("connect: %w", syscall.ECONNREFUSED)}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"server down", fmt.Errorf("begin: %w", refused), true},
		{"bad connection", fmt.Errorf("exec: %w", driver.ErrBadConn), true},
		{"invalid connection", mysql.ErrInvalidConn, true},
		{"too many connections", &mysql.MySQLError{Number: 1040, Message: "Too many connections"}, true},
		{"shutting down", &mysql.MySQLError{Number: 1053}, true},
		{"deadlock is a retry, not an outage", &mysql.MySQLError{Number: 1213}, false},
		{"duplicate key", &mysql.MySQLError{Number: 1062}, false},
		{"a plain error", errors.New("points: insufficient budget"), false},
		{"nil", nil, false},
	} {
		if got := IsUnavailable(tc.err); got != tc.want {
			t.Errorf("%s: IsUnavailable(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

func TestIsStorageFull(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{errors.New("commit: database or disk is full (13)"), true},
		{fmt.Errorf("write wal: %w", syscall.ENOSPC), true},
		{&mysql.MySQLError{Number: 1114, Message: "The table 'postings' is full"}, true},
		{&mysql.MySQLError{Number: 1213}, false},
		{errors.New("UNIQUE constraint failed"), false},
		{nil, false},
	} {
		if got := IsStorageFull(tc.err); got != tc.want {
			t.Errorf("IsStorageFull(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestIsRetryableTiDB: TiDB's write conflict and retryable transaction
// errors are retried like MySQL's deadlocks; its other errors are not.
func TestIsRetryableTiDB(t *testing.T) {
	for _, n := range []uint16{1213, 1205, 9007, 8005, 8002, 8022, 8028, 9002, 9003, 9005} {
		if !IsRetryable(fmt.Errorf("commit: %w", &mysql.MySQLError{Number: n})) {
			t.Errorf("error %d is not retried", n)
		}
	}
	for _, n := range []uint16{1062, 1146, 9006, 8004} {
		if IsRetryable(&mysql.MySQLError{Number: n}) {
			t.Errorf("error %d is retried", n)
		}
	}
}
