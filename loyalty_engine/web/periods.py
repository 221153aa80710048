"""Choosing a list period from a request, for the console's and the portal's results pages."""
from __future__ import annotations

from datetime import date

from flask import abort, request

from ..console.results_view import PeriodInfo


def chosen_period(known: list[PeriodInfo], *, prefer_computed: bool = False) -> PeriodInfo | None:
    """``?period=YYYY-MM-DD`` (or a form field) among ``known``: 400 if malformed, 404 if not one
    of them. Without one: the newest computed period when ``prefer_computed``, else the newest."""
    raw = request.args.get("period") or request.form.get("period") or ""
    if raw:
        try:
            wanted = date.fromisoformat(raw)
        except ValueError:
            abort(400)
        found = next((p for p in known if p.start == wanted), None)
        if found is None:
            abort(404)
        return found
    if prefer_computed:
        return next((p for p in known if p.computed_at is not None), known[0] if known else None)
    return known[0] if known else None
