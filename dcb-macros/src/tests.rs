//! Expansion tests of the macros' internal functions.
