"""Blueprints per audience: POS lanes (``api``), members (``member``), category managers (``manager``)."""
from __future__ import annotations

from flask import Blueprint

from .api import bp as api_bp
from .member import bp as member_bp

BLUEPRINTS: list[Blueprint] = [api_bp, member_bp]
