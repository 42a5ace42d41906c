from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class CustomersConfig(AppConfig):
    name = "customers"

    def ready(self):
        from customers import disclosures  # noqa: F401  (registers what carries customer data, for the access log)
        from customers.models import Customer, Storefront
        from customers.selectors.directory import DirectoryLookups
        from segments.models import Segment
        from subscriptions.models import Plan

        # The directory's shared lookups (plans, storefronts, segments, regions) are read again after a change.
        for model in (Plan, Storefront, Segment, Customer):
            for signal in (post_save, post_delete):
                signal.connect(DirectoryLookups.forget, sender=model,
                               dispatch_uid=f"directory-lookups-{model.__name__}")
