from django.urls import path, re_path

from support import escalation_views

app_name = "escalations"

urlpatterns = [
    path("", escalation_views.escalation_queue_page, name="queue"),
    re_path(r"^(?P<escalation_id>esc_[0-9a-z]+)/resolve/$", escalation_views.escalation_resolve, name="resolve"),
]
