"""A throw-away podman for tests: `podman system service` on a unix socket in a
temp dir, storage and runtime state in that dir too, an image built locally."""
