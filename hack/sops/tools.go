//go:build tools

// Package tools pins the Go programs that generate crates/sops/tests/data:
// the real sops and age-keygen.
package tools

import (
	_ "filippo.io/age/cmd/age-keygen"
	_ "github.com/getsops/sops/v3/cmd/sops"
)
