"""Writes on a customer's profile (notes, tags, contact details) and the one owner of derived customer state.

Each service is one transaction that locks the customer row, makes the change, and records it with the kernel's
one call (portal.audit.audit_record): an AuditEvent (for managers; who changed what) and, through its `timeline`,
an ActivityEvent (the customer's timeline). Neither copies a
personal value: the audit row can never be deleted, so it names the changed fields and never holds the old or new
name, email, phone, address or note text.
Refusals raise DomainError with a sentence the agent can act on; nothing is changed then.
"""

from __future__ import annotations

import re
import unicodedata

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.db.models import Case, Value, When
from django.db.models.functions import Lower

from customers.models import ActivityEvent, Customer, CustomerTag, Note, Tag
from customers.selectors.owners import assignable_owner
from payments.models import Invoice
from portal.audit import Timeline, audit_record, changed_fields
from portal.errors import DomainError
from portal.money import currencies_without_rate, reporting_currency, reporting_sql, to_reporting
from subscriptions.models import Subscription

TAG_MAX_LENGTH = Tag._meta.get_field("name").max_length
NOTE_MAX_LENGTH = Note._meta.get_field("body").max_length
PROFILE_FIELDS = ("first_name", "last_name", "email", "phone", "address_line1", "address_line2", "city",
                  "postal_code", "country")
_TAG_CHARACTERS = re.compile(r"[\w\- ]+")  # \w: letters and digits of any script, and "_"


def _authenticated(actor):
    return actor if actor is not None and actor.is_authenticated else None


def _lock_for_edit(customer: Customer) -> Customer:
    locked = Customer.objects.select_for_update(no_key=True).get(pk=customer.pk)
    if locked.status == Customer.Status.ERASED:
        raise DomainError("This customer's personal data has been erased, so the profile can no longer be changed.",
                          code="customer_erased")
    return locked


# ---- Notes -----------------------------------------------------------------------------------------------------

@transaction.atomic
def customer_note_add(*, customer: Customer, body: str, actor) -> Note:
    """An internal note. Stored as typed; pages always show it escaped (never as HTML or rendered markdown)."""
    body = body.replace("\r\n", "\n").strip()
    if not body:
        raise DomainError("Write the note before saving it.", code="invalid_note")
    if len(body) > NOTE_MAX_LENGTH:
        raise DomainError(f"Notes are at most {NOTE_MAX_LENGTH:,} characters; this one has {len(body):,}.",
                          code="invalid_note")
    customer = _lock_for_edit(customer)
    note = Note.objects.create(customer=customer, author=_authenticated(actor), body=body)
    # The body stays out of the append-only audit row: erasure must be able to remove it from the note. The row
    # names the note by its customer and length (notes have no public id; object_id keeps its key).
    audit_record(actor=actor, action="customers.note.added", customer=customer, obj=note,
                 data={"length": len(body)},
                 timeline=Timeline(ActivityEvent.Kind.SUPPORT, "Internal note added", {"note": note.pk}))
    return note


# ---- Tags ------------------------------------------------------------------------------------------------------

def fold_tag_name(raw: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", raw or "").split()).lower()


def normalize_tag_name(raw: str) -> str:
    """'  VIP   Customer ' → 'vip customer': NFKC, trimmed, inner whitespace collapsed to one space, lower case.

    Allowed: letters and digits (any script), spaces, '-' and '_', at most 40 characters after normalising.
    """
    name = fold_tag_name(raw)
    if not name:
        raise DomainError("Type a tag name.", code="invalid_tag")
    if len(name) > TAG_MAX_LENGTH:
        raise DomainError(f"Tag names are at most {TAG_MAX_LENGTH} characters.", code="invalid_tag")
    if not _TAG_CHARACTERS.fullmatch(name):
        raise DomainError("Tag names may contain letters, digits, spaces, '-' and '_' only.", code="invalid_tag")
    return name


@transaction.atomic
def customer_tag_add(*, customer: Customer, name: str, actor) -> Tag:
    """Tag the customer, creating the tag on first use. "VIP" and "vip " are the same tag."""
    name = normalize_tag_name(name)
    customer = _lock_for_edit(customer)
    if CustomerTag.objects.filter(customer=customer, tag__name=name).exists():
        raise DomainError(f"This customer already has the tag “{name}”.", code="already_tagged")
    tag, _ = Tag.objects.get_or_create(name=name)
    CustomerTag.objects.create(customer=customer, tag=tag, added_by=_authenticated(actor))
    audit_record(actor=actor, action="customers.tag.added", customer=customer, obj=customer, data={"tag": name},
                 timeline=Timeline(ActivityEvent.Kind.PROFILE, f"Tag “{name}” added", {"tag": name}))
    return tag


@transaction.atomic
def customer_tag_remove(*, customer: Customer, name: str, actor) -> None:
    """Untag the customer. The tag itself stays (other customers, saved filters)."""
    name = fold_tag_name(name)
    customer = _lock_for_edit(customer)
    removed, _ = CustomerTag.objects.filter(customer=customer, tag__name=name).delete()
    if not removed:
        raise DomainError(f"This customer has no tag “{name}”.", code="not_tagged")
    audit_record(actor=actor, action="customers.tag.removed", customer=customer, obj=customer, data={"tag": name},
                 timeline=Timeline(ActivityEvent.Kind.PROFILE, f"Tag “{name}” removed", {"tag": name}))


# ---- Contact details -------------------------------------------------------------------------------------------

def normalize_email(email: str) -> str:
    """Trim and lower-case the domain (the local part may be case-sensitive on some servers)."""
    local, _, domain = email.strip().rpartition("@")
    return f"{local}@{domain.lower()}" if local else email.strip()


def customer_with_email(email: str, *, excluding: Customer | None = None) -> Customer | None:
    """Another customer using this address, compared case-insensitively (served by the lower(email) index)."""
    customers = Customer.objects.alias(email_lower=Lower("email")).filter(email_lower=email.lower())
    if excluding is not None:
        customers = customers.exclude(pk=excluding.pk)
    return customers.exclude(status=Customer.Status.ERASED).only("public_id").first()


@transaction.atomic
def customer_profile_update(*, customer: Customer, actor, first_name: str, last_name: str, email: str,
                            phone: str = "", address_line1: str = "", address_line2: str = "", city: str = "",
                            postal_code: str = "", country: str) -> list[str]:
    """Change name, email, phone and address. Returns the names of the fields that changed (none: no-op).

    An email already used by another customer is refused: receipts, password resets and data-export bundles go
    to that address, so two people sharing it would see each other's data. Merging duplicates is a separate act.
    """
    values = {
        "first_name": first_name.strip(), "last_name": last_name.strip(), "email": normalize_email(email),
        "phone": phone.strip(), "address_line1": address_line1.strip(), "address_line2": address_line2.strip(),
        "city": city.strip(), "postal_code": postal_code.strip(), "country": country.strip().upper(),
    }
    if not values["first_name"] or not values["last_name"]:
        raise DomainError("First and last name are both required.", code="invalid_profile")
    try:
        validate_email(values["email"])
    except ValidationError:
        raise DomainError("Enter a valid email address.", code="invalid_profile")
    customer = _lock_for_edit(customer)
    _, after = changed_fields(customer, values)
    if not after:
        return []
    if "email" in after:
        other = customer_with_email(values["email"], excluding=customer)
        if other is not None:
            raise DomainError(f"Another customer ({other.public_id}) already uses {values['email']}. "
                              f"Check whether they are the same person before changing it.", code="email_taken")
    for name, value in after.items():
        setattr(customer, name, value)
    customer.save(update_fields=[*after, "updated_at"])
    # Every profile field is personal data: the append-only row records which fields changed, not their values.
    labels = [str(Customer._meta.get_field(name).verbose_name) for name in after]
    audit_record(actor=actor, action="customers.profile.updated", customer=customer, obj=customer,
                 data={"fields": list(after)},
                 timeline=Timeline(ActivityEvent.Kind.PROFILE, f"Profile updated: {', '.join(labels)}",
                                   {"fields": list(after)}))
    return list(after)


# ---- Derived state (one owner) ----------------------------------------------------------------------

BILLING_STATUSES = (Subscription.Status.ACTIVE, Subscription.Status.GRACE)  # trial and paused bring no MRR yet
MRR_REPORTING_CHUNK = 50_000


def derived_state(customer: Customer, current: Subscription | None, *, payment_failed_at=None) -> dict:
    """What the customer row says about their subscriptions, by the status rules, given `current`: the live subscription,
    else the latest one (None: never subscribed), and in grace `payment_failed_at`, when the unpaid invoice's first
    charge failed (the start of its dunning schedule; the failed renewal's date when unknown). The seeder
    (demo/seed/loads.py CUSTOMERS) writes the same in SQL.

    - status: Active with a live subscription; Churned when the latest was cancelled; otherwise Inactive (an
      erased customer stays Erased).
    - plan, MRR (the plan's monthly price while it bills: active or grace) and currency of the live subscription;
      MRR again in the reporting currency (portal.money.to_reporting), the directory's MRR sort.
    - subscription_state and the date that matters in it: trial end, the failed payment (grace), resume date.
    """
    live = current if current is not None and current.is_live else None
    state = current.status if current is not None else ""
    if customer.status == Customer.Status.ERASED:
        status = Customer.Status.ERASED
    elif live is not None:
        status = Customer.Status.ACTIVE
    elif state == Subscription.Status.CANCELLED:
        status = Customer.Status.CHURNED
    else:
        status = Customer.Status.INACTIVE
    currency = live.plan.currency if live is not None else customer.currency
    mrr = live.plan.monthly_price if live is not None and live.status in BILLING_STATUSES else 0
    return {
        "status": status,
        "plan_id": live.plan_id if live is not None else None,
        "mrr": mrr,
        "currency": currency,
        "mrr_reporting": to_reporting(mrr, currency),
        "subscription_state": state,
        "trial_ends_at": (current.trial_end or current.current_period_end) if state == Subscription.Status.TRIAL
        else None,
        "payment_failing_since": (payment_failed_at or current.current_period_start)
        if state == Subscription.Status.GRACE else None,
        "resumes_on": current.resume_on if state == Subscription.Status.PAUSED else None,
    }


@transaction.atomic
def customer_refresh_derived_state(customer: Customer) -> list[str]:
    """Recompute status, plan, MRR (own and reporting currency) and subscription state from the subscriptions.

    Every service that changes a subscription calls this in its own transaction, after the change. Locks the
    customer row; writes only the fields that changed and returns their names (none: the row was right). The
    caller records the action itself; this is its consequence, not a second audited change.
    """
    customer = Customer.objects.select_for_update(no_key=True).get(pk=customer.pk)
    live_first = Case(When(status__in=Subscription.LIVE_STATUSES, then=Value(0)), default=Value(1))
    current = (Subscription.objects.filter(customer=customer).select_related("plan")
               .order_by(live_first, "-started_at", "-id").first())
    failed_at = None
    if current is not None and current.status == Subscription.Status.GRACE:
        failed_at = (Invoice.objects.filter(subscription=current, status=Invoice.Status.OPEN,
                                            payment_failed_at__isnull=False)
                     .order_by("payment_failed_at").values_list("payment_failed_at", flat=True).first())
    changed = {name: value for name, value in derived_state(customer, current, payment_failed_at=failed_at).items()
               if getattr(customer, name) != value}
    if changed:
        for name, value in changed.items():
            setattr(customer, name, value)
        customer.save(update_fields=[*changed, "updated_at"])
    return list(changed)


def customers_mrr_reporting_recompute(*, chunk_size: int = MRR_REPORTING_CHUNK) -> int:
    """Convert every customer's MRR to the reporting currency again (after the rates or the reporting currency
    changed): one UPDATE per `chunk_size` ids, each its own transaction, so a million rows never sit in one
    transaction or lock all at once. Rows already right are not written. Returns the number of rows changed.

    Refuses (DomainError) when some customer's currency has no configured rate, before changing anything.
    """
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT currency FROM {Customer._meta.db_table}")
        missing = currencies_without_rate(currency for (currency,) in cursor.fetchall())
        if missing:
            raise DomainError(f"No exchange rate to {reporting_currency()} is configured for "
                              f"{', '.join(missing)}: add it to EXCHANGE_RATES first.", code="missing_rate")
        cursor.execute(f"SELECT min(id), max(id) FROM {Customer._meta.db_table}")
        first, last = cursor.fetchone()
    if first is None:
        return 0
    value_sql = reporting_sql('"mrr"', '"currency"')
    statement = (f'UPDATE {Customer._meta.db_table} SET "mrr_reporting" = {value_sql} '
                 f'WHERE "id" BETWEEN %s AND %s AND "mrr_reporting" IS DISTINCT FROM {value_sql}')
    changed = 0
    for low in range(first, last + 1, chunk_size):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [low, low + chunk_size - 1])
            changed += cursor.rowcount
    return changed


# ---- Owner -----------------------------------------------------------------------------------------------------

@transaction.atomic
def customer_owner_set(*, customer: Customer, owner_id: int | None, actor) -> bool:
    """Make `owner_id` the agent who owns this customer (None: nobody). Returns False when nothing changed.

    The owner must be an active user whose role lets them work on customers (customers/selectors/owners.py).
    """
    owner = None
    if owner_id is not None:
        owner = assignable_owner(owner_id)
        if owner is None:
            raise DomainError("Customers can only be given to an active user with an agent role.",
                              code="invalid_owner")
    customer = _lock_for_edit(customer)
    if customer.owner_id == owner_id:
        return False
    before = customer.owner_id
    customer.owner_id = owner_id
    customer.save(update_fields=["owner", "updated_at"])
    if owner is None:
        summary = "Owner removed: nobody looks after this customer now"
    elif _authenticated(actor) is not None and actor.pk == owner.id:
        summary = f"{owner.username} took ownership"
    else:
        summary = f"Owner set to {owner.username}"
    # User ids only in the audit row; the timeline names the agent (a colleague, not the customer's data).
    audit_record(actor=actor, action="customers.owner.changed", customer=customer, obj=customer,
                 before={"owner": before}, after={"owner": owner_id},
                 timeline=Timeline(ActivityEvent.Kind.PROFILE, summary, {"owner": owner_id}))
    return True
