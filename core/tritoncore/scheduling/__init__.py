"""Requests, responses, schedulers and statistics."""
