"""Input parsing for approvals: the page's tabs, the API's list query, and the decision form."""

from __future__ import annotations

from django import forms

from portal.approval_selectors import decode_cursor
from portal.cursors import InvalidCursor
from portal.forms import confirm_current_password, current_password_field
from portal.models import Approval

# The page's tabs: the managers' queue (pending, decided) and everybody's own requests.
TABS = {"pending": "Pending", "decided": "Decided", "mine": "My requests"}
QUEUE_TABS = ("pending", "decided")


def listing(*, status: str = "", mine: bool = False, tab: str = "") -> dict:
    """The selector's arguments for a tab or an API query: the order, the statuses, and whether only the user's
    own requests are listed. Pending: the queue, oldest first. An ended status, or the Decided tab: most recent
    decision first. The user's own of every status: newest first."""
    mine = mine or tab == "mine"
    if tab == "decided" or status in Approval.ENDED_STATUSES:
        order, statuses = "decided", ((status,) if status else tuple(Approval.ENDED_STATUSES))
    elif status == Approval.Status.PENDING or not mine:
        order, statuses = "oldest", (Approval.Status.PENDING,)
    else:
        order, statuses = "newest", ()
    return {"order": order, "statuses": statuses, "mine": mine}


class _CursorForm(forms.Form):
    cursor = forms.CharField(required=False, max_length=2000)

    def listing(self) -> dict:
        raise NotImplementedError

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        data["listing"] = self.listing()
        token = data.get("cursor")
        data["after"] = None
        if token:
            try:
                data["after"] = decode_cursor(token, order=data["listing"]["order"])
            except InvalidCursor as error:
                self.add_error("cursor", forms.ValidationError(error.message, code="invalid_cursor"))
        return data


class ApprovalTabForm(_CursorForm):
    """The page: ?tab=pending|decided|mine&cursor=…; without a tab, managers see the queue, others their own."""

    tab = forms.ChoiceField(required=False, choices=list(TABS.items()))

    def __init__(self, data=None, *, can_decide: bool, **kwargs):
        super().__init__(data, **kwargs)
        self.can_decide = can_decide

    def clean_tab(self) -> str:
        return self.cleaned_data["tab"] or ("pending" if self.can_decide else "mine")

    def listing(self) -> dict:
        return listing(tab=self.cleaned_data["tab"])


class ApprovalQueryForm(_CursorForm):
    """The API: ?status=pending|approved|rejected|expired|failed&mine=1&cursor=…"""

    status = forms.ChoiceField(required=False, choices=Approval.Status.choices)
    mine = forms.ChoiceField(required=False, choices=[("1", "1"), ("0", "0"), ("true", "true"), ("false", "false")])

    def clean_mine(self) -> bool:
        return self.cleaned_data["mine"] in ("1", "true")

    def listing(self) -> dict:
        return listing(status=self.cleaned_data["status"], mine=self.cleaned_data["mine"])


class DecisionForm(forms.Form):
    """Approve or reject: the decider's comment (the service requires one to reject), and the password again when
    approving a kind that asks for it (`ask_password`)."""

    comment = forms.CharField(required=False, max_length=Approval.COMMENT_MAX_LENGTH, strip=False, label="Comment",
                              widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, data=None, *, user, ask_password: bool = False, **kwargs):
        super().__init__(data, **kwargs)
        self.user = user
        if ask_password:
            self.fields["password"] = current_password_field(
                error_messages={"required": "Enter your password to approve this request."})

    def clean_password(self) -> str:
        return confirm_current_password(self.user, self.cleaned_data["password"],
                                        refusal="That is not your password; nothing was approved.")
