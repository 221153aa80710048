"""The portal's statements: the funder's issued statements, each as CSV and PDF (the same files the CLI writes).

A statement of another funder is 403 (checked with ``authorize('funder.view', ...)``);
statements hold offers and sums per week, never a member.
"""
from __future__ import annotations

from flask import Response, abort, current_app, render_template

from ..app import app_config, db_session
from ..console.access import FunderRef
from ..render.settings import RenderSettings
from ..render.statement_pdf import render_statement_pdf
from ..results.statement_files import statement_csv
from ..results.statements import StatementDoc, get_statement, list_statements
from .authz import authorize, requires
from .portal import _funder, bp


@bp.get("/statements")
@requires("portal.view")
def statements() -> str:
    funder = _funder()
    return render_template("portal/statements.html", funder=funder,
                           statements=list(reversed(list_statements(db_session(), funder.id))))


def _statement(number: str) -> StatementDoc:
    doc = get_statement(db_session(), number)
    if doc is None:
        abort(404)
    authorize("funder.view", FunderRef(doc.manufacturer_id))
    return doc


def _download(data: bytes, mimetype: str, filename: str) -> Response:
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.get("/statements/<number>.csv")
@requires("portal.view")
def statement_csv_file(number: str) -> Response:
    doc = _statement(number)
    return _download(statement_csv(doc), "text/csv", f"{doc.number}.csv")


@bp.get("/statements/<number>.pdf")
@requires("portal.view")
def statement_pdf_file(number: str) -> Response:
    doc = _statement(number)
    pdf = render_statement_pdf(doc, RenderSettings.from_config(app_config(current_app)))
    return _download(pdf, "application/pdf", f"{doc.number}.pdf")
