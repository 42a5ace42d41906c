"""50 partial refunds of one payment, sent at once from 2 processes × 25 threads against real Postgres: the
refunded total never exceeds the captured amount, each accepted refund exists once, and the sandbox gateway's
books agree with ours."""

from __future__ import annotations

import json
import random
import subprocess
import sys

from payments.models import Payment, Refund, SandboxOperation
from portal.models import AuditEvent
from tests.helpers import ROOT, subprocess_env
from tests.payments.factories import captured_payment

PROCESSES, THREADS = 2, 25


def test_fifty_partial_refunds_at_once_never_refund_more_than_was_captured(people):
    _, max_, _ = people  # a manager: every amount here is under the manager's limit, so refunds are immediate
    payment = captured_payment(amount=10_000)
    rng = random.Random(12)
    batches = [[rng.randint(100, 900) for _ in range(THREADS)] for _ in range(PROCESSES)]
    script = str(ROOT / "tests" / "payments" / "refund_burst.py")
    env = subprocess_env(DJANGO_SETTINGS_MODULE="portal.settings", PYTHONPATH=str(ROOT))
    workers = [subprocess.Popen([sys.executable, script, payment.public_id, max_.username, *map(str, batch)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT, text=True)
               for batch in batches]
    outcomes = []
    for worker in workers:
        out, err = worker.communicate(timeout=180)
        assert worker.returncode == 0, err[-2000:]
        outcomes += json.loads(out.strip().splitlines()[-1])

    assert not [o for o in outcomes if "error" in o], outcomes
    accepted = [o for o in outcomes if o.get("refund")]
    refused = [o for o in outcomes if "refused" in o]
    payment = Payment.objects.get(pk=payment.pk)
    refunds = Refund.objects.filter(payment=payment)
    gateway_total = sum(SandboxOperation.objects.filter(kind="refund", parent_ref=payment.gateway_ref,
                                                        status="succeeded").values_list("amount", flat=True))
    print(f"\n{len(outcomes)} refunds sent, {len(accepted)} accepted ({sum(o['amount'] for o in accepted)}), "
          f"{len(refused)} refused; refunded {payment.amount_refunded} of {payment.amount}; gateway {gateway_total}")
    assert len(outcomes) == PROCESSES * THREADS
    assert payment.amount_refunded <= payment.amount and payment.amount_refund_pending == 0
    assert refunds.count() == len(accepted) == len({o["refund"] for o in accepted})
    assert payment.amount_refunded == sum(o["amount"] for o in accepted) == gateway_total
    assert all(o["refused"] in ("refund_amount", "refund_nothing_left") for o in refused)
    assert refused, "the amounts add up to more than the payment: some must have been refused"
    assert AuditEvent.objects.filter(action="payments.refund.created", data__payment=payment.public_id).count() \
        == len(accepted)
