"""checkout (see docs/ARCHITECTURE.md)."""
