//! Real-broker harness (work in progress).
