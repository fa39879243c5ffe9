"""Built-in frontends (HTTP, gRPC, metrics) and what they share."""
