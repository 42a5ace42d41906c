from django.urls import path, re_path

from support import escalation_api

urlpatterns = [
    path("customers/<str:public_id>/escalations", escalation_api.customer_escalation_create,
         name="api_customer_escalations"),
    path("escalations", escalation_api.escalation_list, name="api_escalation_list"),
    re_path(r"^escalations/(?P<escalation_id>[^/]+)/resolve$", escalation_api.escalation_resolve,
            name="api_escalation_resolve"),
]
