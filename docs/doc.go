// Package docs holds the project's prose documentation (architecture.md,
// evidence.md) and the test that keeps architecture.md true to the code:
// every path and Go name the map writes as code must exist, and every
// package's imports must be among the arrows its table allows.
package docs
