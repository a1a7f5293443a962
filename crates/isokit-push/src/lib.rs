//! `isokit push`: build an image through the engine and push it to a private ECR repository with an SDK token.
