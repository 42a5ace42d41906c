from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "payments"

    def ready(self):
        from payments import checks, disclosures  # noqa: F401  (system checks; what carries customer data)
        from payments import credit, refunds
        from payments.models import Refund
        from portal import approvals

        # What a manager approves (portal/approvals.py): refunds outside the policy, credit above a role's limit.
        approvals.register(approvals.ApprovalKind(
            code=refunds.REFUND_APPROVAL, label="Refund", check=refunds.approval_check,
            execute=refunds.approval_execute, release=refunds.approval_release, describe=refunds.approval_describe,
            reasons=dict(Refund.Reason.choices), timeline_kind="payment", sudo=True))
        approvals.register(approvals.ApprovalKind(
            code=credit.CREDIT_APPROVAL, label="Credit", check=credit.approval_check,
            execute=credit.approval_execute, describe=credit.approval_describe,
            reasons={"goodwill": "Goodwill credit"}, timeline_kind="payment"))
