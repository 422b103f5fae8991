"""ganlink api service."""
