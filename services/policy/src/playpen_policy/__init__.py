"""Playpen policy service: serves a model behind the PolicyService gRPC API."""
