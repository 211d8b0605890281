// Package faults is the fault suite of issue 19: real `lianmeng serve`
// processes (and, for the database scenarios, a MariaDB server the suite
// starts itself) under signed earn, redeem and refund traffic with
// idempotency keys, POS webhooks and payment-channel notifications
// (feeds_test.go), while the suite kills, stops and starves them. Every
// acknowledged answer is recorded; after each scenario the database must
// hold every acknowledged write exactly once and nothing else, `lianmeng
// verify` must be clean and coverage exactly 1.
//
// The tests are behind the build tag "faults" (they build the binary and
// run for minutes): scripts/faults.sh runs them, short by default and long
// with FAULTS_LONG=1. This file only documents the package.
package faults
