//! The isokit-service binary.

fn main() {}
