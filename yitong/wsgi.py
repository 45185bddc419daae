"""WSGI entry point for servers other than `yitong serve`: ``gunicorn yitong.wsgi:app``."""

from yitong.app import create_app

app = create_app()
