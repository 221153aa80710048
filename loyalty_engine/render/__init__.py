"""render (see docs/ARCHITECTURE.md)."""
