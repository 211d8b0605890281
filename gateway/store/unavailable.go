package store

import (
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/go-sql-driver/mysql"
)

// IsUnavailable reports whether err means the database cannot be reached
// or is refusing work for now — the server is down or restarting, the
// connection broke, or it has no connection left — rather than that the
// request is wrong. Callers answer 503 with Retry-After: the same request,
// retried with the same Idempotency-Key, will have exactly one effect once
// the database is back (a transaction that did not commit left nothing).
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1040, // too many connections
			1053, // server shutdown in progress
			1077, // normal shutdown
			1079, // shutdown complete
			1152, // aborted connection
			1203, // max user connections
			1927: // connection killed
			return true
		}
		return false
	}
	var ne net.Error
	var oe *net.OpError
	switch {
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, mysql.ErrInvalidConn),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	case errors.As(err, &oe):
		return true
	case errors.As(err, &ne) && ne.Timeout():
		return true
	}
	// The MySQL driver reports some lost connections only as text.
	s := err.Error()
	return strings.Contains(s, "connection refused") || strings.Contains(s, "bad connection") ||
		strings.Contains(s, "invalid connection")
}

// IsStorageFull reports whether err means the database's disk is full
// (SQLite's SQLITE_FULL, ENOSPC, MySQL's table or disk full). The
// transaction did not commit; callers answer 503 with Retry-After, as for
// an unavailable database, under a code of its own so operators see why.
func IsStorageFull(err error) bool {
	if err == nil {
		return false
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1114 || me.Number == 1021
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, ErrStorageFull) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "database or disk is full") || strings.Contains(s, "SQLITE_FULL") ||
		strings.Contains(s, "no space left on device")
}
