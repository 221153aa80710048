"""WSGI entry point: ``gunicorn wsgi:app``. Configuration comes from LOYALTY_* variables."""
from loyalty_engine.app import create_app

app = create_app()
