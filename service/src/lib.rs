//! isokit-service: the sample workload that checks, from inside the task, every endpoint it needs and that the internet is unreachable.
