"""What every wing uses: errors with fields, events, secrets masked, the environment variables,
atomic file writes, digests and the worker pool."""
