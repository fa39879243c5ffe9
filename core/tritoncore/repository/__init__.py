"""Model repositories: scanning, version policies, control modes, the load/unload state machine."""
