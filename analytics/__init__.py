"""ganlink analytics service."""
