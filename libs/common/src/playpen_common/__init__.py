"""Plumbing every Playpen service shares: gRPC server bootstrap, settings, logging, metrics, errors."""
