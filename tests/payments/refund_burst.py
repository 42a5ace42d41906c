"""A process that sends partial refunds of one payment from several threads at once (run by
test_refund_concurrency.py against the test database). Prints one JSON line: what each attempt became."""

import json
import os
import sys
import threading

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connections  # noqa: E402

from payments.models import Payment  # noqa: E402
from payments.refunds import refund_issue  # noqa: E402
from portal.errors import DomainError  # noqa: E402


def main(payment_id: str, username: str, amounts: list[int]) -> None:
    actor = get_user_model().objects.get(username=username)
    barrier = threading.Barrier(len(amounts))
    outcomes = [None] * len(amounts)

    def run(index: int, amount: int) -> None:
        barrier.wait()
        try:
            result = refund_issue(payment=Payment.objects.get(public_id=payment_id), amount=amount,
                                  reason_code="requested_by_customer", actor=actor)
            outcomes[index] = {"amount": amount, "refund": result.refund.public_id if result.refund else None,
                               "approval": result.approval.public_id if result.approval else None}
        except DomainError as exc:
            outcomes[index] = {"amount": amount, "refused": exc.code}
        except Exception as exc:  # reported, so the test fails with the reason
            outcomes[index] = {"amount": amount, "error": repr(exc)}
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, amount)) for i, amount in enumerate(amounts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps(outcomes))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], [int(a) for a in sys.argv[3:]])
