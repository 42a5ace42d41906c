"""Card-update links: the customer's page (/pay/card/<token>/, no sign-in) and the agent's send dialog under the
customer's profile URL (/customers/<cus_…>/card-link/…)."""

from django.urls import include, path, re_path

from payments import card_link_views as views

app_name = "card_links"

customer_patterns = [
    path("new/", views.card_link_new, name="new"),
    path("send/", views.card_link_send, name="send"),
]

urlpatterns = [
    path("pay/card/<str:token>/", views.card_link_page, name="page"),
    re_path(r"^customers/(?P<public_id>cus_[0-9a-z]+)/card-link/", include(customer_patterns)),
]
