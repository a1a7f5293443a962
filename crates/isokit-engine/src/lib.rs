//! The Docker Engine, through its API: connecting, building, pushing and pulling images, and running containers on private networks.
