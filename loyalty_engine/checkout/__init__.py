"""Checkout at the lane (issue 6): redemption rules (pure), lane API keys, quotes, completes, voids."""
