from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"

    def ready(self):
        from payments import checks  # noqa: F401  (registers the gateway's start-up checks)
        from payments import disclosures  # noqa: F401  (registers what carries customer data, for the access log)
