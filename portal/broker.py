"""Broker and result-backend URLs for Celery.

With REDIS_URL both go to Redis. Without it, the broker is kombu's SQLAlchemy transport and results use
Celery's database backend, both on the portal's own Postgres, so `make run` has a real worker and beat with no
extra server.
"""

from urllib.parse import quote


def _sqlalchemy_url(db: dict) -> str:
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else f"{user}@"
    host = db.get("HOST") or ""
    port = db.get("PORT") or ""
    name = db["NAME"]
    if host.startswith("/"):  # Unix socket directory
        return f"postgresql+psycopg://{credentials}/{name}?host={quote(host)}"
    netloc = f"{host}:{port}" if port else host
    return f"postgresql+psycopg://{credentials}{netloc}/{name}"


def broker_urls(redis_url: str, db: dict) -> tuple[str, str]:
    if redis_url:
        return redis_url, redis_url
    url = _sqlalchemy_url(db)
    return f"sqla+{url}", f"db+{url}"


def create_broker_tables(db: dict) -> None:
    """Create kombu's and Celery's tables as the connecting (owner) role, so the application role, which may not
    create tables, finds them in place. Both libraries create them on first use when they are missing."""
    from celery.backends.database.models import ResultModelBase
    from kombu import Connection
    from kombu.transport.sqlalchemy.models import metadata as broker_metadata
    from sqlalchemy import create_engine

    url = _sqlalchemy_url(db)
    with Connection(f"sqla+{url}") as connection:
        connection.default_channel  # defines kombu's queue and message tables on its metadata
    engine = create_engine(url)
    try:
        broker_metadata.create_all(engine)
        ResultModelBase.metadata.create_all(engine)
    finally:
        engine.dispose()
