//! End-to-end tests of the whole chain live in `tests/`; this library holds the echo upstream
//! that they and `examples/quickstart.sh` start.

pub mod echo;
