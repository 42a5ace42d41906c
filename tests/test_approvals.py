"""Four eyes (portal/approvals.py): requesting, approving (once, never by the requester), rejecting, failing the
re-check, expiring; the Approvals page and API; the race of two managers; the query budget of the page.

A test-only kind (tests/approval_kinds.py) tags a customer through customers.services and holds a "held <tag>"
tag while the request waits.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connections, transaction
from django.test import Client
from django.utils import timezone

from customers.models import ActivityEvent, CustomerTag
from customers.services import customer_tag_add
from portal import approvals
from portal.approvals import (
    AlreadyDecided, AlreadyRequested, ApprovalExpired, ApprovalFailed, NotAManager, OwnRequest, RequestKeyReused,
    approval_approve, approval_reject, approval_request, approvals_expire,
)
from portal.errors import DomainError
from portal.models import Approval, AuditEvent, IdempotentRequest
from portal.roles import sync_roles
from tests.approval_kinds import SUDO_TAG, TAG, held, request_tag
from tests.factories import CustomerFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("approval_kinds")]
HTMX = {"HX-Request": "true"}
NOTE = "Customer threatened to leave, asked twice"


@pytest.fixture
def customer(db):
    return CustomerFactory(first_name="Ada", last_name="Lovelace", email="ada@example.com")


@pytest.fixture
def mira(db):
    """A second manager."""
    return UserFactory(username="mira", role="Manager")


def tags(customer) -> set[str]:
    return set(CustomerTag.objects.filter(customer=customer).values_list("tag__name", flat=True))


def fresh(approval) -> Approval:
    return Approval.objects.get(pk=approval.pk)


def page_url(approval, action) -> str:
    return f"/approvals/{approval.public_id}/{action}/"


def api_decide(client, approval, action, headers=None, **body):
    return client.post(f"/api/v1/approvals/{approval.public_id}/{action}", json.dumps(body),
                       content_type="application/json", headers=headers or {})


# ---- Requesting ------------------------------------------------------------------------------------------------------

def test_a_request_is_pending_held_audited_and_on_the_timeline(agent, customer):
    approval = request_tag(customer=customer, actor=agent, note=NOTE)
    approval = fresh(approval)
    assert approval.public_id.startswith("apr_") and approval.status == "pending"
    assert approval.kind == TAG and approval.payload == {"customer": customer.public_id, "tag": "vip"}
    assert approval.requested_by == agent and approval.note == NOTE and approval.reason == "goodwill"
    hours = (approval.expires_at - approval.requested_at).total_seconds() / 3600
    assert hours == settings.APPROVAL_EXPIRY_HOURS == 72
    assert tags(customer) == {held("vip")}
    event = AuditEvent.objects.get(action="portal.approval.requested")
    assert event.object_id == approval.public_id and event.customer_id == customer.pk
    assert event.data["note_length"] == len(NOTE) and NOTE not in json.dumps(event.data)
    timeline = ActivityEvent.objects.get(customer=customer, action="approval.requested")
    assert timeline.summary == "Add tag sent for approval: tags starting with “vip” need a manager's approval"
    assert timeline.kind == "profile" and timeline.payload == {"approval": approval.public_id}


def test_the_timeline_names_the_amount(agent, customer):
    request_tag(customer=customer, actor=agent, amount=1200)
    assert ActivityEvent.objects.get(action="approval.requested").summary.startswith(
        "Add tag of $12.00 sent for approval: ")


def test_a_second_pending_request_for_the_same_target_is_refused(agent, customer, manager):
    first = request_tag(customer=customer, actor=agent)
    with pytest.raises(AlreadyRequested) as refused:
        request_tag(customer=customer, actor=manager)
    assert "already waiting for a manager: asked by agent at" in refused.value.message
    assert first.public_id in refused.value.message and refused.value.status == 409
    assert Approval.objects.count() == 1 and tags(customer) == {held("vip")}
    request_tag(customer=customer, actor=agent, tag="gold")  # another target: fine
    request_tag(customer=CustomerFactory(), actor=agent)  # another customer: fine
    approval_reject(approval=first, actor=manager, comment="No")
    request_tag(customer=customer, actor=agent)  # the first has ended: a new one may wait
    assert Approval.objects.filter(status="pending").count() == 3


def test_a_stale_pending_request_is_expired_and_replaced(agent, customer):
    old = request_tag(customer=customer, actor=agent)
    Approval.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    new = request_tag(customer=customer, actor=agent)
    assert fresh(old).status == "expired" and fresh(new).status == "pending"
    assert tags(customer) == {held("vip")}  # the old hold released, the new one taken


def test_the_same_request_key_makes_one_request(agent, customer):
    payload = {"customer": customer.public_id, "tag": "vip"}
    ask = dict(kind=TAG, customer=customer, actor=agent, payload=payload, verdict="Needs a manager.",
               request_key=f"{agent.pk}:form-123")
    first = approval_request(**ask)
    again = approval_request(**ask)
    assert again.pk == first.pk and again.replayed and not first.replayed
    assert Approval.objects.count() == 1
    assert AuditEvent.objects.filter(action="portal.approval.requested").count() == 1
    with pytest.raises(RequestKeyReused):
        approval_request(**{**ask, "payload": {**payload, "tag": "gold"}})
    # Through a requesting service: it looks the key up first and reserves nothing twice.
    key = f"{agent.pk}:form-456"
    one = request_tag(customer=customer, actor=agent, tag="gold", request_key=key)
    two = request_tag(customer=customer, actor=agent, tag="gold", request_key=key)
    assert one.pk == two.pk and Approval.objects.filter(request_key=key).count() == 1


def test_bad_requests_are_refused(agent, customer):
    payload = {"customer": customer.public_id, "tag": "vip"}
    with pytest.raises(DomainError, match="at most 2,000 characters"):
        approval_request(kind=TAG, customer=customer, actor=agent, payload=payload, verdict="V.", note="x" * 2001)
    with pytest.raises(TypeError, match="float"):
        approval_request(kind=TAG, customer=customer, actor=agent, payload={**payload, "amount": 12.5}, verdict="V.")
    with pytest.raises(TypeError, match="minor units"):
        approval_request(kind=TAG, customer=customer, actor=agent, payload=payload, verdict="V.", amount=12)
    with pytest.raises(ValueError, match="verdict"):
        approval_request(kind=TAG, customer=customer, actor=agent, payload=payload, verdict=" ")
    from django.core.exceptions import ImproperlyConfigured
    with pytest.raises(ImproperlyConfigured):
        approval_request(kind="nobody.knows", customer=customer, actor=agent, payload=payload, verdict="V.")
    assert not Approval.objects.exists()


def test_a_kind_code_is_registered_once():
    from django.core.exceptions import ImproperlyConfigured

    from tests.approval_kinds import TAG_KIND

    approvals.register(TAG_KIND)  # the same kind again: fine (a reloaded app)
    with pytest.raises(ImproperlyConfigured):
        approvals.register(approvals.ApprovalKind(code=TAG, label="Other", check=print, execute=print))
    with pytest.raises(ImproperlyConfigured):
        approvals.register(approvals.ApprovalKind(code="nodot", label="Other", check=print, execute=print))


# ---- Approving -------------------------------------------------------------------------------------------------------

def test_approving_executes_once_and_stores_the_result(agent, manager, customer):
    approval = request_tag(customer=customer, actor=agent, note=NOTE)
    done = approval_approve(approval=approval, actor=manager, comment="Fine, long-standing customer")
    done = fresh(done)
    assert done.status == "approved" and done.decided_by == manager and done.decided_at is not None
    assert done.result == {"tag": "vip"} and done.comment == "Fine, long-standing customer"
    assert tags(customer) == {"vip"}
    with pytest.raises(AlreadyDecided, match=r"already approved by manager at .*; nothing was changed"):
        approval_approve(approval=approval, actor=UserFactory(username="mira", role="Manager"))
    assert CustomerTag.objects.filter(customer=customer, tag__name="vip").count() == 1
    # The action's own records say it was carried out on approval, by the approver.
    added = AuditEvent.objects.get(action="customers.tag.added", data__tag="vip")
    assert added.source == "approval" and added.actor_label == "manager"
    approved = AuditEvent.objects.get(action="portal.approval.approved")
    assert approved.source == "agent" and approved.data["result"] == {"tag": "vip"}
    assert approved.data["comment_length"] == len("Fine, long-standing customer")
    assert ActivityEvent.objects.get(action="approval.approved").summary == "Add tag approved by manager"


def test_nobody_approves_their_own_request_not_even_an_admin_or_a_superuser(agent, admin_user, customer):
    root = UserFactory(username="root", is_superuser=True, is_staff=True)
    for requester in (agent, admin_user, root):
        approval = request_tag(customer=customer, actor=requester, tag=f"t-{requester.username}")
        if requester is agent:
            continue
        for decide in (approval_approve, approval_reject):
            with pytest.raises(OwnRequest, match="You asked for this; another manager must decide."):
                decide(approval=approval, actor=requester, comment="Mine")
        assert fresh(approval).status == "pending"
    assert not CustomerTag.objects.filter(tag__name__startswith="t-").exists()


@pytest.mark.parametrize("persona", ["admin_user", "superuser"])
def test_an_admin_cannot_approve_their_own_request_on_the_page_or_in_the_api(request, persona, client_for,
                                                                              api_client_for, customer):
    user = (UserFactory(username="root", is_superuser=True, is_staff=True) if persona == "superuser"
            else request.getfixturevalue(persona))
    approval = request_tag(customer=customer, actor=user)
    page = client_for(user).post(page_url(approval, "approve"), {"comment": "Mine"}, headers=HTMX)
    assert page.status_code == 422 and "You asked for this; another manager must decide." in page.content.decode()
    api = api_decide(api_client_for(user), approval, "approve", comment="Mine")
    assert api.status_code == 403 and api.json()["error"]["code"] == "own_request"
    assert fresh(approval).status == "pending" and tags(customer) == {held("vip")}


def test_an_agent_cannot_decide(agent, customer, manager):
    approval = request_tag(customer=customer, actor=manager)
    for decide in (approval_approve, approval_reject):
        with pytest.raises(NotAManager):
            decide(approval=approval, actor=agent, comment="Sure")
    assert fresh(approval).status == "pending"


def test_a_failed_recheck_fails_releases_and_says_why(agent, manager, customer):
    approval = request_tag(customer=customer, actor=agent)
    customer_tag_add(customer=customer, name="vip", actor=agent)  # the state changed meanwhile
    with pytest.raises(ApprovalFailed) as failed:
        approval_approve(approval=approval, actor=manager, comment="OK")
    assert "can no longer be carried out: The customer has the tag “vip” already" in failed.value.message
    assert "closed as failed" in failed.value.message and failed.value.status == 409
    approval = fresh(approval)
    assert approval.status == "failed" and approval.decided_by == manager and approval.result == {}
    assert approval.failure_message.startswith("The customer has the tag “vip” already")
    assert tags(customer) == {"vip"}  # the hold released, nothing executed
    assert AuditEvent.objects.filter(action="portal.approval.failed").count() == 1
    assert not AuditEvent.objects.filter(action="portal.approval.approved").exists()
    summary = ActivityEvent.objects.get(action="approval.failed").summary
    assert summary == "Add tag approved by manager but not carried out: the customer has the tag “vip” already " \
                      "(added after the request)"
    with pytest.raises(AlreadyDecided, match="already closed as failed by manager"):
        approval_approve(approval=approval, actor=manager)


@pytest.mark.django_db(transaction=True)
def test_the_failed_state_is_committed_before_the_error_is_raised(approval_kinds):
    """No transaction around the call (autocommit, as in a worker): the failure is in the database when it raises."""
    sync_roles()
    agent, manager = UserFactory(username="agent", role="Agent"), UserFactory(username="manager", role="Manager")
    customer = CustomerFactory()
    approval = request_tag(customer=customer, actor=agent)
    customer_tag_add(customer=customer, name="vip", actor=agent)
    with pytest.raises(ApprovalFailed):
        approval_approve(approval=approval, actor=manager)
    assert not connections["default"].in_atomic_block
    assert fresh(approval).status == "failed" and tags(customer) == {"vip"}


def test_an_expired_request_is_never_carried_out(agent, manager, customer):
    approval = request_tag(customer=customer, actor=agent)
    Approval.objects.filter(pk=approval.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(ApprovalExpired, match="expired at .* nothing was carried out"):
        approval_approve(approval=approval, actor=manager)
    approval = fresh(approval)
    assert approval.status == "expired" and approval.decided_by is None and tags(customer) == set()
    assert approvals_expire() == 0  # already ended
    with pytest.raises(AlreadyDecided, match="expired at .* before anyone decided it"):
        approval_approve(approval=approval, actor=manager)


def test_the_expiry_task_ends_overdue_requests_once(agent, manager, customer):
    from portal.tasks import approvals_expire as task

    overdue = [request_tag(customer=customer, actor=agent, tag=f"t{n}") for n in range(3)]
    waiting = request_tag(customer=customer, actor=agent, tag="later")
    Approval.objects.filter(pk__in=[a.pk for a in overdue]).update(requested_at=timezone.now() - timedelta(hours=73),
                                                                  expires_at=timezone.now() - timedelta(hours=1))
    assert task.delay().get() == 3
    assert task.delay().get() == 0  # idempotent
    assert approvals_expire(batch_size=1) == 0
    assert {fresh(a).status for a in overdue} == {"expired"} and fresh(waiting).status == "pending"
    assert tags(customer) == {held("later")}
    expired = AuditEvent.objects.filter(action="portal.approval.expired")
    assert expired.count() == 3 and {e.source for e in expired} == {"scheduled"} and not any(e.actor for e in expired)
    assert ActivityEvent.objects.filter(action="approval.expired").first().summary == \
        "Add tag expired: no manager decided within 72 hours"
    with pytest.raises(AlreadyDecided):
        approval_approve(approval=overdue[0], actor=manager)
    assert settings.CELERY_BEAT_SCHEDULE["approvals-expire"] == {"task": "portal.approvals_expire",
                                                                 "schedule": 300}


def test_the_expiry_task_works_in_batches(agent):
    for n in range(5):
        request_tag(customer=CustomerFactory(), actor=agent)
    Approval.objects.update(expires_at=timezone.now() - timedelta(minutes=5))
    assert approvals_expire(batch_size=2) == 5
    assert not Approval.objects.filter(status="pending").exists()


# ---- Rejecting -------------------------------------------------------------------------------------------------------

def test_rejecting_releases_and_needs_a_comment(agent, manager, customer):
    approval = request_tag(customer=customer, actor=agent)
    with pytest.raises(DomainError, match="Write why you reject it"):
        approval_reject(approval=approval, actor=manager, comment="  ")
    with pytest.raises(DomainError, match="at most 1,000 characters"):
        approval_reject(approval=approval, actor=manager, comment="x" * 1001)
    assert fresh(approval).status == "pending" and tags(customer) == {held("vip")}
    approval_reject(approval=approval, actor=manager, comment="Not a VIP yet")
    approval = fresh(approval)
    assert approval.status == "rejected" and approval.comment == "Not a VIP yet" and tags(customer) == set()
    assert ActivityEvent.objects.get(action="approval.rejected").summary == "Add tag rejected by manager"
    with pytest.raises(AlreadyDecided, match="already rejected by manager"):
        approval_approve(approval=approval, actor=manager)


def test_erasure_can_blank_the_free_texts(agent, manager, customer):
    approval = request_tag(customer=customer, actor=agent, note=NOTE)
    approval_reject(approval=approval, actor=manager, comment="Spoke to Ada")
    assert approvals.erase_free_text(customer) == 1
    approval = fresh(approval)
    assert (approval.note, approval.comment, approval.status) == ("", "", "rejected")


# ---- Two managers at once --------------------------------------------------------------------------------------------

@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attempt", range(2))
def test_two_managers_approving_at_once_execute_it_once(attempt, approval_kinds):
    """Against real Postgres: two threads, two connections, one barrier; one approves, the other gets 409."""
    from portal.services import api_token_create

    sync_roles()  # the flush after a transactional test removes the roles' groups
    agent = UserFactory(username="agent", role="Agent")
    customer = CustomerFactory()
    approval = request_tag(customer=customer, actor=agent)
    secrets = []
    for n in range(2):
        manager = UserFactory(username=f"manager{n}", role="Manager")
        secrets.append(api_token_create(user=manager, name="race", actor=manager)[1])
    barrier, answers = threading.Barrier(2), []

    def approve(secret):
        try:
            client = Client(headers={"Authorization": f"Bearer {secret}"})
            barrier.wait()
            answers.append(api_decide(client, approval, "approve", comment="Go"))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=approve, args=(secret,)) for secret in secrets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answer.status_code for answer in answers) == [200, 409]
    loser = next(answer for answer in answers if answer.status_code == 409).json()["error"]
    winner = fresh(approval).decided_by.username
    assert loser["code"] == "already_decided" and f"already approved by {winner} at" in loser["message"]
    assert CustomerTag.objects.filter(customer=customer, tag__name="vip").count() == 1
    assert AuditEvent.objects.filter(action="customers.tag.added", data__tag="vip").count() == 1
    assert AuditEvent.objects.filter(action="portal.approval.approved").count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_double_submit_racing_with_one_request_key_makes_one_request(approval_kinds):
    sync_roles()
    agent = UserFactory(username="agent", role="Agent")
    customer = CustomerFactory()
    barrier, made = threading.Barrier(2), []

    def ask():
        try:
            barrier.wait()
            with transaction.atomic():
                made.append(approval_request(kind=TAG, customer=customer, actor=agent, verdict="Needs a manager.",
                                             payload={"customer": customer.public_id, "tag": "vip"},
                                             request_key="agent:double-click"))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 2 and made[0].pk == made[1].pk and sorted(a.replayed for a in made) == [False, True]
    assert Approval.objects.count() == 1
    assert AuditEvent.objects.filter(action="portal.approval.requested").count() == 1


# ---- The page --------------------------------------------------------------------------------------------------------

def test_the_queue_shows_what_a_manager_needs_to_decide(client_for, agent, manager, customer):
    approval = request_tag(customer=customer, actor=agent, note=NOTE, amount=1200)
    response = client_for(manager).get("/approvals/")
    assert response.status_code == 200
    body = response.content.decode()
    panel = re.search(rf'<li id="approval-{approval.public_id}".*?</li>\s*(?=<li|</ol>)', body, re.S).group(0)
    for text in ("Add tag", f"Add tag “vip” to {customer.public_id}", "Ada Lovelace", customer.public_id, "$12.00",
                 "Goodwill gesture", "Tags starting with “vip” need a manager&#x27;s approval.", NOTE,
                 "Asked by <strong>agent</strong>", "ago", "expires in 2", ">Approve</button>", ">Reject</button>"):
        assert text in panel, text
    assert f'href="/customers/{customer.public_id}/"' in panel
    assert "1 request waiting for a decision" in body


def test_the_requester_sees_the_buttons_disabled_with_the_reason(client_for, manager, customer):
    approval = request_tag(customer=customer, actor=manager)
    body = client_for(manager).get("/approvals/").content.decode()
    assert re.search(r"<button[^>]*disabled[^>]*>Approve</button>", body)
    assert re.search(r"<button[^>]*disabled[^>]*>Reject</button>", body)
    assert "Your request: another manager decides." in body
    assert page_url(approval, "approve") not in body
    # Posting anyway is refused, on the page and without htmx.
    response = client_for(manager).post(page_url(approval, "approve"), {"comment": ""}, headers=HTMX)
    assert response.status_code == 422
    assert "You asked for this; another manager must decide." in response.content.decode()
    response = client_for(manager).post(page_url(approval, "approve"), {"comment": ""})
    assert response.status_code == 302 and fresh(approval).status == "pending"


def test_a_manager_approves_from_the_page(client_for, agent, manager, customer):
    approval = request_tag(customer=customer, actor=agent)
    client = client_for(manager)
    assert client.get(page_url(approval, "approve")).status_code == 405
    response = client.post(page_url(approval, "approve"), {"comment": "Go ahead"}, headers=HTMX)
    assert response.status_code == 200
    toast = json.loads(response["HX-Trigger"])["toast"]
    assert toast["message"].startswith(f"Approved and carried out: Add tag “vip” to {customer.public_id}")
    body = response.content.decode()
    assert body.lstrip().startswith(f'<li id="approval-{approval.public_id}"')
    assert "Approved</strong> by manager" in body and "Go ahead" in body and "<code>vip</code>" in body
    assert tags(customer) == {"vip"}
    # Without htmx: a message and back to the queue.
    other = request_tag(customer=customer, actor=agent, tag="gold")
    response = client.post(page_url(other, "reject"), {"comment": "No"})
    assert response.status_code == 302 and response["Location"] == "/approvals/?tab=pending"
    assert fresh(other).status == "rejected"


def test_rejecting_from_the_page_needs_a_comment(client_for, agent, manager, customer):
    approval = request_tag(customer=customer, actor=agent)
    response = client_for(manager).post(page_url(approval, "reject"), {"comment": ""}, headers=HTMX)
    assert response.status_code == 422
    assert "Write why you reject it: the requester reads your comment." in response.content.decode()
    assert fresh(approval).status == "pending"
    response = client_for(manager).post(page_url(approval, "reject"), {"comment": "Not now"}, headers=HTMX)
    assert response.status_code == 200 and "Rejected</strong> by manager" in response.content.decode()
    assert fresh(approval).status == "rejected" and tags(customer) == set()


def test_a_failure_at_approval_is_shown_in_the_row(client_for, agent, manager, customer):
    approval = request_tag(customer=customer, actor=agent)
    customer_tag_add(customer=customer, name="vip", actor=agent)
    response = client_for(manager).post(page_url(approval, "approve"), {"comment": ""}, headers=HTMX)
    assert response.status_code == 422
    body = response.content.decode()
    assert "Not carried out:</strong> The customer has the tag “vip” already" in body
    assert "It is now closed as failed" in body and 'class="status status-failed"' in body
    assert fresh(approval).status == "failed"


def test_a_sudo_kind_asks_for_the_password_on_the_page(client_for, agent, manager, customer):
    approval = request_tag(customer=customer, actor=agent, kind=SUDO_TAG)
    client = client_for(manager)
    assert 'name="password"' in client.get("/approvals/").content.decode()
    for password, error in (("", "Enter your password to approve this request."),
                            ("wrong", "That is not your password; nothing was approved.")):
        response = client.post(page_url(approval, "approve"), {"password": password}, headers=HTMX)
        assert response.status_code == 422 and error in response.content.decode()
        assert fresh(approval).status == "pending"
    response = client.post(page_url(approval, "approve"), {"password": "correct-horse-battery"}, headers=HTMX)
    assert response.status_code == 200 and fresh(approval).status == "approved"
    # Rejecting needs no password.
    other = request_tag(customer=customer, actor=agent, kind=SUDO_TAG, tag="gold")
    assert client.post(page_url(other, "reject"), {"comment": "No"}, headers=HTMX).status_code == 200


def test_agents_see_their_own_requests_and_nothing_else(client_for, agent, manager, customer):
    mine = request_tag(customer=customer, actor=agent, tag="mine")
    theirs = request_tag(customer=customer, actor=manager, tag="theirs")
    client = client_for(agent)
    response = client.get("/approvals/")
    assert response.status_code == 200 and response.context["tab"] == "mine"
    body = response.content.decode()
    assert mine.public_id in body and theirs.public_id not in body
    assert "Waiting for a manager's decision." in body and "approval-form" not in body
    assert "?tab=pending" not in body and "?tab=decided" not in body and "My requests" in body
    for tab in ("pending", "decided"):
        assert client.get("/approvals/", {"tab": tab}).status_code == 403
    for action in ("approve", "reject"):
        assert client.post(page_url(theirs, action), {"comment": "x"}).status_code == 403
    assert client.get("/approvals/badge/").status_code == 403
    assert fresh(theirs).status == "pending"


def test_a_bad_cursor_or_tab_starts_again(client_for, manager):
    response = client_for(manager).get("/approvals/", {"tab": "pending", "cursor": "forged"})
    assert response.status_code == 200 and "Showing the first page." in response.content.decode()
    response = client_for(manager).get("/approvals/", {"tab": "everything"})
    assert response.status_code == 200 and response.context["tab"] == "pending"


def test_the_lists_page_through_in_their_orders(client_for, agent, manager):
    now = timezone.now()
    made = [request_tag(customer=CustomerFactory(), actor=agent, tag=f"t{n}") for n in range(30)]
    for n, approval in enumerate(made):
        Approval.objects.filter(pk=approval.pk).update(requested_at=now - timedelta(minutes=n))
    client = client_for(manager)
    first = client.get("/approvals/").context["page"]
    assert len(first.rows) == 25 and first.count == 30 and first.next_cursor
    assert first.rows[0].approval.pk == made[-1].pk  # the oldest first
    more = client.get("/approvals/", {"tab": "pending", "cursor": first.next_cursor},
                      headers={**HTMX, "HX-Target": "approvals-more"}).content.decode()
    assert more.lstrip().startswith("<li id=\"approval-") and "approvals-more" not in more  # the rows only
    shown = set(re.findall(r'<li id="approval-(apr_\w+)"', more))
    assert len(shown) == 5
    assert {r.approval.public_id for r in first.rows} | shown == {a.public_id for a in made}
    for approval in made[:3]:
        approval_reject(approval=approval, actor=manager, comment="No")
    decided = client.get("/approvals/", {"tab": "decided"}).context["page"]
    assert [r.approval.pk for r in decided.rows] == [a.pk for a in reversed(made[:3])]  # newest decision first
    mine = client_for(agent).get("/approvals/").context["page"]
    assert mine.rows[0].approval.pk == made[0].pk and mine.count == 30  # newest request first


def test_the_page_reads_a_fixed_number_of_queries(client_for, agent, manager, django_assert_num_queries):
    client = client_for(manager)
    request_tag(customer=CustomerFactory(), actor=agent, tag="first")
    client.get("/approvals/")  # the session and the user are warm from here on

    # session, user with roles, the page of requests, the count, the access-log insert
    with django_assert_num_queries(5):
        assert len(client.get("/approvals/").context["page"].rows) == 1
    for n in range(59):
        request_tag(customer=CustomerFactory(), actor=agent, tag=f"t{n}", note=NOTE, amount=100 + n)
    with django_assert_num_queries(5):
        page = client.get("/approvals/").context["page"]
    assert len(page.rows) == 25 and page.count == 60
    with django_assert_num_queries(5):
        assert len(client.get("/approvals/", {"cursor": page.next_cursor}).context["page"].rows) == 25
    with django_assert_num_queries(5):
        assert client.get("/api/v1/approvals").status_code == 200


# ---- Navigation ------------------------------------------------------------------------------------------------------

def test_the_sidebar_counts_what_waits_for_a_manager_without_a_query_on_the_page(client_for, agent, manager, mira,
                                                                                 customer, django_assert_num_queries):
    request_tag(customer=customer, actor=agent, tag="one")
    request_tag(customer=customer, actor=agent, tag="two")
    request_tag(customer=customer, actor=manager, tag="own")  # not waiting for this manager
    overdue = request_tag(customer=customer, actor=agent, tag="late")
    Approval.objects.filter(pk=overdue.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    client = client_for(manager)
    body = client.get("/settings/").content.decode()
    assert 'href="/approvals/"' in body and 'data-shortcut="g a"' in body
    assert 'hx-get="/approvals/badge/" hx-trigger="load"' in body  # loaded after the page: no query on it
    with django_assert_num_queries(3):  # session, user with roles, one count
        badge = client.get("/approvals/badge/", headers=HTMX)
    assert badge.status_code == 200 and ">2<" in badge.content.decode()
    assert "3 requests" in client_for(mira).get("/approvals/badge/", headers=HTMX).content.decode()
    for approval in Approval.objects.all():
        approval.status, approval.decided_at = "rejected", timezone.now()
        approval.save()
    assert "hidden" in client.get("/approvals/badge/", headers=HTMX).content.decode()
    # Agents reach their own requests from the sidebar, without a count.
    agent_body = client_for(agent).get("/settings/").content.decode()
    assert 'href="/approvals/"' in agent_body and "/approvals/badge/" not in agent_body


# ---- The API ---------------------------------------------------------------------------------------------------------

def test_the_api_lists_reads_and_decides(api_client_for, agent, manager, customer):
    approval = request_tag(customer=customer, actor=agent, note=NOTE, amount=1200)
    api = api_client_for(manager)
    listed = api.get("/api/v1/approvals").json()
    assert listed["count"] == {"value": 1, "exact": True} and listed["next_cursor"] is None
    row = listed["results"][0]
    assert row["id"] == approval.public_id and row["status"] == "pending" and row["kind"] == TAG
    assert row["customer"] == {"id": customer.public_id, "name": "Ada Lovelace"}
    assert row["amount"] == {"amount": 1200, "currency": "USD"} and row["reason_label"] == "Goodwill gesture"
    assert row["description"] == f"Add tag “vip” to {customer.public_id}" and row["note"] == NOTE
    assert row["requested_by"] == "agent" and row["expires_at"].endswith("+00:00") and not row["asks_password"]
    assert api.get(f"/api/v1/approvals/{approval.public_id}").json() == row
    assert api.get("/api/v1/approvals/apr_nothing").status_code == 404
    done = api_decide(api, approval, "approve", comment="OK")
    assert done.status_code == 200, done.content
    assert done.json()["status"] == "approved" and done.json()["result"] == {"tag": "vip"}
    assert api.get("/api/v1/approvals", {"status": "approved"}).json()["results"][0]["decided_by"] == "manager"
    assert api.get("/api/v1/approvals", {"status": "pending"}).json()["results"] == []
    again = api_decide(api, approval, "reject", comment="Changed my mind")
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_decided"


def test_the_api_refuses_what_the_page_refuses(api_client_for, agent, manager, customer):
    own = request_tag(customer=customer, actor=manager, tag="own")
    answer = api_decide(api_client_for(manager), own, "approve")
    assert answer.status_code == 403 and answer.json()["error"] == {
        "code": "own_request", "message": "You asked for this; another manager must decide."}
    theirs = request_tag(customer=customer, actor=UserFactory(username="mira", role="Manager"), tag="theirs")
    agent_api = api_client_for(agent)
    assert api_decide(agent_api, theirs, "approve").status_code == 403
    assert api_decide(agent_api, theirs, "reject", comment="x").status_code == 403
    assert agent_api.get("/api/v1/approvals").status_code == 403
    assert agent_api.get(f"/api/v1/approvals/{theirs.public_id}").status_code == 404
    mine = request_tag(customer=customer, actor=agent, tag="mine")
    assert [r["id"] for r in agent_api.get("/api/v1/approvals", {"mine": "1"}).json()["results"]] == [mine.public_id]
    assert agent_api.get(f"/api/v1/approvals/{mine.public_id}").status_code == 200
    manager_api = api_client_for(manager)
    for body, code in (({"comment": 3}, "invalid"), ({"comment": "ok", "force": True}, "unknown_field")):
        assert api_decide(manager_api, theirs, "approve", **body).json()["error"]["code"] == code
    empty = api_decide(manager_api, theirs, "reject")
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "invalid_comment"
    for query, code in (({"status": "open"}, "invalid_query"), ({"cursor": "nope"}, "invalid_cursor"),
                        ({"mine": "yes"}, "invalid_query")):
        answer = manager_api.get("/api/v1/approvals", query)
        assert answer.status_code == 400 and answer.json()["error"]["code"] == code
    assert manager_api.get(f"/api/v1/approvals/{theirs.public_id}/approve").status_code == 405
    assert {fresh(a).status for a in (own, theirs, mine)} == {"pending"}


def test_the_api_reports_a_failed_recheck_as_409(api_client_for, agent, manager, customer):
    approval = request_tag(customer=customer, actor=agent)
    customer_tag_add(customer=customer, name="vip", actor=agent)
    answer = api_decide(api_client_for(manager), approval, "approve", comment="OK")
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "approval_failed"
    assert "The customer has the tag “vip” already" in answer.json()["error"]["message"]
    assert fresh(approval).status == "failed"


def test_idempotency_keys_replay_decisions(api_client_for, agent, manager, customer):
    approval = request_tag(customer=customer, actor=agent)
    api = api_client_for(manager)
    key = {"Idempotency-Key": "approve-1"}
    first = api_decide(api, approval, "approve", headers=key, comment="OK")
    replay = api_decide(api, approval, "approve", headers=key, comment="OK")
    assert first.status_code == replay.status_code == 200 and replay["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    assert AuditEvent.objects.filter(action="portal.approval.approved").count() == 1
    conflict = api_decide(api, approval, "approve", headers=key, comment="Other")
    assert conflict.status_code == 409 and conflict.json()["error"]["code"] == "idempotency_conflict"
    # A failure is stored and replayed like any other answer, and stays committed.
    failing = request_tag(customer=customer, actor=agent, tag="gold")
    customer_tag_add(customer=customer, name="gold", actor=agent)
    key = {"Idempotency-Key": "approve-2"}
    first = api_decide(api, failing, "approve", headers=key)
    replay = api_decide(api, failing, "approve", headers=key)
    assert first.status_code == replay.status_code == 409 and replay.json() == first.json()
    assert fresh(failing).status == "failed"
    assert IdempotentRequest.objects.filter(key="approve-2", status_code=409).exists()
    rejecting = request_tag(customer=customer, actor=agent, tag="silver")
    key = {"Idempotency-Key": "reject-1"}
    assert api_decide(api, rejecting, "reject", headers=key, comment="No").status_code == 200
    assert api_decide(api, rejecting, "reject", headers=key, comment="No")["Idempotent-Replayed"] == "true"


def test_a_sudo_kind_is_approved_through_the_api_with_a_token_only(api_client_for, client_for, agent, manager,
                                                                   customer):
    approval = request_tag(customer=customer, actor=agent, kind=SUDO_TAG)
    session = client_for(manager)
    session.get("/settings/")  # sets the CSRF cookie
    answer = session.post(f"/api/v1/approvals/{approval.public_id}/approve", "{}", content_type="application/json",
                          headers={"X-CSRFToken": session.cookies["csrftoken"].value})
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "password_required"
    assert fresh(approval).status == "pending"
    assert api_client_for(manager).get(f"/api/v1/approvals/{approval.public_id}").json()["asks_password"]
    assert api_decide(api_client_for(manager), approval, "approve").status_code == 200


def test_the_activity_tab_shows_the_note_and_the_comment(client_for, api_client_for, agent, manager, customer):
    approval = request_tag(customer=customer, actor=agent, note=NOTE)
    approval_approve(approval=approval, actor=manager, comment="Granted for the anniversary")
    body = client_for(agent).get(f"/customers/{customer.public_id}/activity/").content.decode()
    assert "Add tag approved by manager" in body and "“Granted for the anniversary”" in body
    assert f"“{NOTE}”" in body
    events = api_client_for(agent).get(f"/api/v1/customers/{customer.public_id}/activity").json()["results"]
    details = {event["summary"]: event["detail"] for event in events}
    assert details["Add tag approved by manager"] == "Granted for the anniversary"
