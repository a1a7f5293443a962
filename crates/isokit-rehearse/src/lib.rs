//! `isokit rehearse`: run a task image on the local engine inside a network built like the isolated VPC.
