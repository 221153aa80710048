"""Aggregates and read models behind the console's pages (no Flask): segments, redemptions, risk."""
