from django.apps import AppConfig
from django.db.models.signals import m2m_changed, post_delete, post_save


class CustomersConfig(AppConfig):
    name = "customers"

    def ready(self):
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group

        from customers import disclosures  # noqa: F401  (registers what carries customer data, for the access log)
        from customers.models import Customer, Storefront
        from customers.selectors.directory import DirectoryLookups
        from segments.models import Segment
        from subscriptions.models import Plan

        # The directory's shared lookups (plans, storefronts, segments, regions, owners) are read again after a
        # change (a user's roles change through their groups: m2m_changed).
        for model in (Plan, Storefront, Segment, Customer, get_user_model(), Group):
            for signal in (post_save, post_delete):
                signal.connect(DirectoryLookups.forget, sender=model,
                               dispatch_uid=f"directory-lookups-{model.__name__}")
        m2m_changed.connect(DirectoryLookups.forget, sender=get_user_model().groups.through,
                            dispatch_uid="directory-lookups-user-groups")
