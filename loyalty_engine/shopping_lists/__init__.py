"""shopping_lists (see docs/ARCHITECTURE.md)."""
