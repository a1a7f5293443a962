//! The Docker build context: `.dockerignore` matching exactly as Docker does, and the tar stream sent to the engine.
