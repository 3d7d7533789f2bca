//! Deliberately faulty cards (test builds and the `faults` feature only).
