"""Pure readers and writers of what hublock reads and writes: handles, hub.toml, hub.lock, bundles,
archives, the SavedModel API, lock diffs and CycloneDX."""
