"""Blueprints per audience: POS lanes (``api``), members (``member``), staff (``console``), manufacturers (``portal``)."""
from __future__ import annotations

from flask import Blueprint

from .api import bp as api_bp
from .console import bp as console_bp, home_bp
from .member import bp as member_bp
from .portal import bp as portal_bp

BLUEPRINTS: list[Blueprint] = [api_bp, member_bp, home_bp, console_bp, portal_bp]
