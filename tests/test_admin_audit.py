"""Changes made in Django's admin are audited like any other: one AuditEvent per add, change and delete, naming
the changed fields and never copying their values."""

import json

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group, User

from portal.admin import AuditedAdminMixin, PortalAdminSite
from portal.models import AuditEvent
from tests.factories import UserFactory


@pytest.fixture
def admin_client(admin_user, client_for):
    """The Admin persona as the seed creates it: staff and superuser, so Django's admin opens for it."""
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save(update_fields=["is_staff", "is_superuser"])
    return client_for(admin_user)


def _stored(event) -> str:
    return json.dumps([event.before, event.after, event.data])


def _user_form(user, **changes):
    """The admin's change form for `user` as the browser sends it unchanged, plus `changes`."""
    joined = {"date_joined_0": f"{user.date_joined:%Y-%m-%d}", "date_joined_1": f"{user.date_joined:%H:%M:%S}"}
    data = {"username": user.username, "first_name": user.first_name, "last_name": user.last_name,
            "email": user.email, "is_active": "on", "groups": list(user.groups.values_list("pk", flat=True)),
            **joined, **{f"initial-{name}": value for name, value in joined.items()},  # hidden initial values
            "last_login_0": "", "last_login_1": ""}
    return {**data, **changes}


@pytest.mark.django_db
def test_changing_a_user_in_the_admin_is_audited_without_values(admin_client, admin_user, agent):
    old_email, new_email = agent.email, "new.address@portal.test"
    manager_group = Group.objects.get(name="Manager")
    response = admin_client.post(f"/admin/auth/user/{agent.pk}/change/",
                                 _user_form(agent, email=new_email, groups=[manager_group.pk]))
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    event = AuditEvent.objects.get(action="admin.auth.user.changed")
    assert (event.actor, event.object_type, event.object_id) == (admin_user, "auth.user", str(agent.pk))
    assert sorted(event.data["fields"]) == ["email", "groups"]
    stored = _stored(event)
    assert old_email not in stored and new_email not in stored
    assert agent.password not in stored


@pytest.mark.django_db
def test_setting_a_password_in_the_admin_is_audited_as_a_changed_field(admin_client, agent):
    new_password = "a-new-long-password-9431"
    response = admin_client.post(f"/admin/auth/user/{agent.pk}/password/",
                                 {"password1": new_password, "password2": new_password, "usable_password": "true"})
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="admin.auth.user.changed")
    assert event.data["fields"] == ["password"]
    agent.refresh_from_db()
    assert agent.check_password(new_password)
    assert new_password not in _stored(event) and agent.password not in _stored(event)


@pytest.mark.django_db
def test_adding_changing_and_deleting_a_group_in_the_admin_is_audited(admin_client, admin_user):
    assert admin_client.post("/admin/auth/group/add/", {"name": "Night shift"}).status_code == 302
    group = Group.objects.get(name="Night shift")
    added = AuditEvent.objects.get(action="admin.auth.group.added")
    assert (added.object_type, added.object_id, added.data["fields"]) == ("auth.group", str(group.pk), ["name"])

    response = admin_client.post(f"/admin/auth/group/{group.pk}/change/", {"name": "Night shift EU"})
    assert response.status_code == 302
    changed = AuditEvent.objects.get(action="admin.auth.group.changed")
    assert changed.data["fields"] == ["name"] and changed.actor == admin_user

    assert admin_client.post(f"/admin/auth/group/{group.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not Group.objects.filter(pk=group.pk).exists()
    deleted = AuditEvent.objects.get(action="admin.auth.group.deleted")
    assert (deleted.object_type, deleted.object_id) == ("auth.group", str(group.pk))


@pytest.mark.django_db
def test_bulk_delete_in_the_admin_writes_one_row_per_object(admin_client):
    users = [UserFactory(username=f"temp{n}") for n in range(2)]
    response = admin_client.post("/admin/auth/user/", {"action": "delete_selected", "post": "yes",
                                                       "_selected_action": [u.pk for u in users]})
    assert response.status_code == 302
    assert not User.objects.filter(pk__in=[u.pk for u in users]).exists()
    rows = AuditEvent.objects.filter(action="admin.auth.user.deleted")
    assert sorted(rows.values_list("object_id", flat=True)) == sorted(str(u.pk) for u in users)


def test_the_admin_site_audits_every_registered_model():
    assert isinstance(admin.site, PortalAdminSite)
    registered = [model for model in apps.get_models() if admin.site.is_registered(model)]
    assert {User, Group} <= set(registered)
    unaudited = [model._meta.label for model in registered
                 if not isinstance(admin.site.get_model_admin(model), AuditedAdminMixin)]
    assert unaudited == []


def test_a_model_registered_later_is_audited_too():
    site = PortalAdminSite(name="later")
    site.register(Group)
    site.register(User, admin.ModelAdmin)
    assert isinstance(site.get_model_admin(Group), AuditedAdminMixin)
    assert isinstance(site.get_model_admin(User), admin.ModelAdmin)
    assert isinstance(site.get_model_admin(User), AuditedAdminMixin)


@pytest.mark.django_db
def test_only_the_admin_role_opens_the_admin_site_even_with_staff_status(client_for, manager, admin_user):
    manager.is_staff = True
    manager.save(update_fields=["is_staff"])
    assert client_for(manager).get("/admin/").status_code == 302  # to the admin login: not allowed in
    admin_user.is_staff = True
    admin_user.save(update_fields=["is_staff"])
    assert client_for(admin_user).get("/admin/").status_code == 200
