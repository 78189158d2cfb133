//! Cross-crate integration tests of dcb; the tests live in `tests/`.
