"""Memory: shared-memory regions, pinned host pool, devices."""
