"""imports (see docs/ARCHITECTURE.md)."""
