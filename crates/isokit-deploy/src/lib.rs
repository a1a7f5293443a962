//! `isokit deploy` and `isokit teardown`: the bundled stacks deployed and removed through SAM.
