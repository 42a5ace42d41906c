"""The configured payment gateway (`get_gateway`). This minimal sandbox collects cards and charges them with the
deterministic test cards; the full adapters (sandbox books, Stripe) replace it."""

from __future__ import annotations

import secrets
from datetime import date

from django.conf import settings

from payments.gateways.base import ChargeResult, SavedMethod, SetupResult, SetupSession

DECLINING_CARD = "4000000000000002"  # stores fine; every charge is a hard decline


def _luhn_ok(number: str) -> bool:
    digits = [int(d) for d in reversed(number)]
    total = sum(digits[0::2]) + sum(sum(divmod(2 * d, 10)) for d in digits[1::2])
    return total % 10 == 0


def _brand(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"51", "52", "53", "54", "55"} or "2221" <= number[:4] <= "2720":
        return "mastercard"
    if number[:2] in {"34", "37"}:
        return "amex"
    return "card"


class SandboxGateway:
    name = "sandbox"

    def setup_start(self, *, customer_ref: str, key: str) -> SetupSession:
        return SetupSession(ref=f"seti_sbx_{key}"[:64], customer_ref=customer_ref or f"cus_sbx_{secrets.token_hex(8)}")

    def setup_finish(self, *, session_ref: str, customer_ref: str, submitted: dict[str, str]) -> SetupResult:
        number = "".join(str(submitted.get("card_number", "")).split())
        if not number.isdigit() or not 12 <= len(number) <= 19 or not _luhn_ok(number):
            return SetupResult("failed", failure_code="incorrect_number", failure_message="Your card number is incorrect.")
        try:
            month, year = int(submitted.get("exp_month", "")), int(submitted.get("exp_year", ""))
        except (TypeError, ValueError):
            return SetupResult("failed", failure_code="invalid_expiry", failure_message="Your card's expiry date is incomplete.")
        today = date.today()
        if not 1 <= month <= 12 or (year, month) < (today.year, today.month):
            return SetupResult("failed", failure_code="expired_card", failure_message="Your card has expired.")
        cvc = str(submitted.get("cvc", ""))
        if not cvc.isdigit() or len(cvc) not in (3, 4):
            return SetupResult("failed", failure_code="incorrect_cvc",
                               failure_message="Your card's security code is incorrect.")
        flag = "d" if number == DECLINING_CARD else "o"
        ref = f"pm_sbx_{flag}{number[-4:]}_{secrets.token_hex(6)}"
        return SetupResult("succeeded", SavedMethod(ref=ref, customer_ref=customer_ref, brand=_brand(number),
                                                    last4=number[-4:], exp_month=month, exp_year=year))

    def charge(self, *, amount: int, currency: str, customer_ref: str, method_ref: str, key: str,
               metadata: dict[str, str]) -> ChargeResult:
        if method_ref.startswith("pm_sbx_d"):
            return ChargeResult("failed", ref=f"ch_sbx_{secrets.token_hex(6)}", failure_code="card_declined",
                                failure_message="Your card was declined.", hard_decline=True)
        return ChargeResult("succeeded", ref=f"ch_sbx_{secrets.token_hex(6)}")


def get_gateway(name: str | None = None):
    name = name or getattr(settings, "PAYMENT_GATEWAY", "sandbox")
    if name != "sandbox":
        raise ValueError(f"unknown payment gateway {name!r}")
    return SandboxGateway()
