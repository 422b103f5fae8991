"""ganlink gateway service."""
