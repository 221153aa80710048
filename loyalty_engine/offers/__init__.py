"""offers (see docs/ARCHITECTURE.md)."""
