"""ganlink collector service."""
