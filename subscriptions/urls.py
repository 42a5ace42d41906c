"""Pages of the subscriptions app: the actions on one subscription (/subscriptions/<sub_…>/…, opened from the
customer's Subscriptions tab) and the retention report (/subscriptions/retention/)."""

from django.urls import include, path, re_path

from subscriptions import views

app_name = "subscriptions"

subscription_patterns = [
    # Change plan, pause, resume, keep (undo a cancel), extend trial: the dialog, its live preview, the confirm
    re_path(r"^(?P<action>plan|pause|resume|keep|extend-trial)/$", views.action_new, name="action"),
    re_path(r"^(?P<action>plan|pause|resume|keep|extend-trial)/preview/$", views.action_preview,
            name="action_preview"),
    re_path(r"^(?P<action>plan|pause|resume|keep|extend-trial)/confirm/$", views.action_confirm,
            name="action_confirm"),
    path("scheduled-change/cancel/", views.scheduled_change_cancel, name="scheduled_change_cancel"),
    # Cancel: reason → retention offer → accept, or decline → when (with its preview) → confirm
    path("cancel/", views.cancel_new, name="cancel_new"),
    path("cancel/offer/", views.cancel_offer, name="cancel_offer"),
    path("cancel/accept/", views.cancel_accept, name="cancel_accept"),
    path("cancel/decline/", views.cancel_decline, name="cancel_decline"),
    path("cancel/preview/", views.cancel_preview, name="cancel_preview"),
    path("cancel/confirm/", views.cancel_confirm, name="cancel_confirm"),
]

urlpatterns = [
    path("retention/", views.retention, name="retention"),
    re_path(r"^(?P<public_id>sub_[0-9a-z]+)/", include(subscription_patterns)),
]
