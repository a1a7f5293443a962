//! The report isokit-service writes after each round of checks, and `isokit rehearse` reads back.
