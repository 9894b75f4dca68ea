//! Integration tests of the local control plane live in `tests/`.
