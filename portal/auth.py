"""The authentication backend: Django's ModelBackend, reading the signed-in user and their roles in one query."""

from django.contrib.auth.backends import ModelBackend

from portal.roles import user_with_roles


class PortalBackend(ModelBackend):
    def get_user(self, user_id):
        """Called once per request by AuthenticationMiddleware. The roles come with the user (portal.roles), so
        the capability checks and the sidebar's role name read nothing more."""
        user = user_with_roles(user_id)
        return user if user is not None and self.user_can_authenticate(user) else None
