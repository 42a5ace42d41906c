from django.urls import include, path, re_path

from customers.views import directory, profile
from support import escalation_views

app_name = "customers"

urlpatterns = [
    # Directory (search, filters, list)
    path("", directory.directory, name="directory"),
    path("matches/", directory.search_matches, name="search_matches"),  # the header search's dropdown
    # Profile
    re_path(r"^(?P<public_id>cus_[0-9a-z]+)/", include([
        path("", profile.profile, name="profile"),
        re_path(r"^(?P<tab>subscriptions|payments|tickets|activity|notes|emails)/$", profile.profile, name="profile_tab"),
        path("edit/", profile.profile_edit, name="profile_edit"),
        path("notes/new/", profile.note_add, name="note_add"),
        path("tags/add/", profile.tag_add, name="tag_add"),
        path("tags/remove/", profile.tag_remove, name="tag_remove"),
        path("tags/suggest/", profile.tag_suggest, name="tag_suggest"),
        path("owner/", profile.owner_set, name="owner_set"),
        path("escalate/", escalation_views.customer_escalate, name="escalate"),
    ])),
]
