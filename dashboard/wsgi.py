"""gunicorn entry: ``gunicorn -c python:dashboard.gunicorn_conf`` (settings there).

Configured by environment: OTKLIK_DB (hub database), optionally OTKLIK_AUTH_DB
and SECRET_KEY (else kept in <auth db>.secret). gthread workers, because the
live overview holds one server-sent-events connection per open page.
"""

from dashboard import create_app

app = create_app()
