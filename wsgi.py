"""The WSGI entry point for gunicorn (``wsgi:app``) and the ``flask --app wsgi`` CLI."""

from webapp import create_app

app = create_app()
