"""factory-boy factories for the whole domain. Money in minor units; public ids come from the model defaults."""

from datetime import timedelta

import factory
from django.contrib.auth.models import Group, User
from django.utils import timezone

from customers.models import ActivityEvent, Customer, CustomerMetrics, Note, Storefront, Tag
from payments.models import Invoice, Payment, PaymentMethod
from portal.money import to_reporting
from subscriptions.models import Plan, Subscription


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@portal.test")
    password = factory.django.Password("correct-horse-battery")

    @factory.post_generation
    def role(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.add(Group.objects.get(name=extracted))


class StorefrontFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Storefront
        django_get_or_create = ("code",)

    code = "web"
    name = "Web"
    kind = Storefront.Kind.WEB


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Plan
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"plan-{n}")
    name = factory.LazyAttribute(lambda p: p.code.replace("-", " ").title())
    price = 1500
    currency = "USD"
    interval = Plan.Interval.MONTH


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    phone = "+1 555 0100"
    country = "US"
    storefront = factory.SubFactory(StorefrontFactory)
    registered_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=400))
    status = Customer.Status.INACTIVE
    mrr = 0
    currency = "USD"
    # As customers.services.derived_state keeps it: the MRR in the reporting currency.
    mrr_reporting = factory.LazyAttribute(lambda c: to_reporting(c.mrr, c.currency))


class CustomerMetricsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CustomerMetrics

    customer = factory.SubFactory(CustomerFactory)


class PaymentMethodFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PaymentMethod

    customer = factory.SubFactory(CustomerFactory)
    kind = PaymentMethod.Kind.CARD
    brand = "visa"
    last4 = "4242"
    exp_month = 12
    exp_year = 2030
    is_default = True
    created_at = factory.LazyFunction(timezone.now)


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscription

    customer = factory.SubFactory(CustomerFactory)
    plan = factory.SubFactory(PlanFactory)
    status = Subscription.Status.ACTIVE
    started_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=100))
    current_period_start = factory.LazyFunction(lambda: timezone.now() - timedelta(days=10))
    current_period_end = factory.LazyFunction(lambda: timezone.now() + timedelta(days=20))


class InvoiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Invoice

    customer = factory.SubFactory(CustomerFactory)
    number = factory.Sequence(lambda n: f"INV-T-{n:06d}")
    status = Invoice.Status.PAID
    currency = "USD"
    subtotal = 1500
    tax = 0
    total = factory.LazyAttribute(lambda i: i.subtotal + i.tax)
    lines = factory.LazyAttribute(lambda i: [{"description": "Subscription", "quantity": 1,
                                              "unit_amount": i.subtotal, "amount": i.subtotal}])
    issued_at = factory.LazyFunction(timezone.now)


class PaymentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Payment

    customer = factory.SubFactory(CustomerFactory)
    invoice = factory.SubFactory(InvoiceFactory, customer=factory.SelfAttribute("..customer"))
    amount = 1500
    currency = "USD"
    status = Payment.Status.SUCCEEDED
    created_at = factory.LazyFunction(timezone.now)


class NoteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Note

    customer = factory.SubFactory(CustomerFactory)
    body = "Called about the invoice."


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("name",)

    name = "vip"


class ActivityEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ActivityEvent

    customer = factory.SubFactory(CustomerFactory)
    created_at = factory.LazyFunction(timezone.now)
    kind = ActivityEvent.Kind.PROFILE
    action = "profile.updated"
    source = "agent"
    summary = "Profile updated"
