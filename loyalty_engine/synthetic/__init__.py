"""synthetic (see docs/ARCHITECTURE.md)."""
