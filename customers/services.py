"""Writes on a customer's profile: notes, tags and contact details.

Each service is one transaction that locks the customer row, makes the change, and records it twice: an
AuditEvent (for managers; who changed what) and an ActivityEvent (the customer's timeline). Neither copies a
personal value: the audit row can never be deleted, so it names the changed fields and never holds the old or new
name, email, phone, address or note text (DESIGN §7).
Refusals raise DomainError with a sentence the agent can act on; nothing is changed then.
"""

from __future__ import annotations

import re
import unicodedata

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone

from customers.models import ActivityEvent, Customer, CustomerTag, Note, Tag
from portal.audit import audit_record, changed_fields
from portal.context import current_source
from portal.errors import DomainError

TAG_MAX_LENGTH = Tag._meta.get_field("name").max_length
NOTE_MAX_LENGTH = Note._meta.get_field("body").max_length
PROFILE_FIELDS = ("first_name", "last_name", "email", "phone", "address_line1", "address_line2", "city",
                  "postal_code", "country")
_TAG_CHARACTERS = re.compile(r"[\w\- ]+")  # \w: letters and digits of any script, and "_"


def _authenticated(actor):
    return actor if actor is not None and actor.is_authenticated else None


def activity_record(*, customer: Customer, kind: str, action: str, summary: str, actor=None,
                    payload: dict | None = None) -> ActivityEvent:
    """One entry on the customer's timeline; the source (agent, api, bulk, …) comes from the entry point."""
    return ActivityEvent.objects.create(
        customer=customer, created_at=timezone.now(), kind=kind, action=action, source=current_source(),
        actor=_authenticated(actor), summary=summary[:255], payload=payload or {},
    )


def _lock_for_edit(customer: Customer) -> Customer:
    locked = Customer.objects.select_for_update().get(pk=customer.pk)
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
                 data={"length": len(body)})
    activity_record(customer=customer, kind=ActivityEvent.Kind.SUPPORT, action="note.added",
                    summary="Internal note added", actor=actor, payload={"note": note.pk})
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
    audit_record(actor=actor, action="customers.tag.added", customer=customer, obj=customer, data={"tag": name})
    activity_record(customer=customer, kind=ActivityEvent.Kind.PROFILE, action="tag.added",
                    summary=f"Tag “{name}” added", actor=actor, payload={"tag": name})
    return tag


@transaction.atomic
def customer_tag_remove(*, customer: Customer, name: str, actor) -> None:
    """Untag the customer. The tag itself stays (other customers, saved filters)."""
    name = fold_tag_name(name)
    customer = _lock_for_edit(customer)
    removed, _ = CustomerTag.objects.filter(customer=customer, tag__name=name).delete()
    if not removed:
        raise DomainError(f"This customer has no tag “{name}”.", code="not_tagged")
    audit_record(actor=actor, action="customers.tag.removed", customer=customer, obj=customer, data={"tag": name})
    activity_record(customer=customer, kind=ActivityEvent.Kind.PROFILE, action="tag.removed",
                    summary=f"Tag “{name}” removed", actor=actor, payload={"tag": name})


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
    audit_record(actor=actor, action="customers.profile.updated", customer=customer, obj=customer,
                 data={"fields": list(after)})
    labels = [str(Customer._meta.get_field(name).verbose_name) for name in after]
    activity_record(customer=customer, kind=ActivityEvent.Kind.PROFILE, action="profile.updated",
                    summary=f"Profile updated: {', '.join(labels)}", actor=actor, payload={"fields": list(after)})
    return list(after)
