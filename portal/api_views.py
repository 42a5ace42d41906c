from portal.api import api_view
from portal.roles import CAPABILITIES, has_capability, role_of


@api_view()
def me(request):
    """Who am I and what may I do: lets an API client check its token and its role."""
    from django.http import JsonResponse

    user = request.user
    return JsonResponse({
        "username": user.get_username(),
        "role": role_of(user),
        "capabilities": sorted(code for code in CAPABILITIES if has_capability(user, code)),
    })
