"""The WSGI entry point for gunicorn (``wsgi:app``) and the ``flask --app wsgi`` CLI."""

from webapp import create_app
from webapp.config import exit_on_config_error

with exit_on_config_error():
    app = create_app()
