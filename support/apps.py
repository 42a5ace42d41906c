from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "support"

    def ready(self):
        from support import disclosures  # noqa: F401  (registers what carries customer data, for the access log)
