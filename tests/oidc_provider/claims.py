"""Claims of the test provider. Groups come from ``groups.json`` in the state folder,
read at every request, so a test can remove someone from a group between two sign-ins."""

import json

from django.conf import settings
from oidc_provider.lib.claims import ScopeClaims


def groups_of(username: str) -> list[str]:
    path = settings.STATE / "groups.json"
    if not path.exists():
        return []
    return json.loads(path.read_text()).get(username, [])


def userinfo(claims, user):
    claims["preferred_username"] = user.username
    claims["email"] = user.email
    claims["given_name"] = user.first_name
    claims["family_name"] = user.last_name
    return claims


class GroupsScopeClaims(ScopeClaims):
    info_groups = ("Groups", "The groups you belong to.")

    def scope_groups(self):
        return {"groups": groups_of(self.user.username)}
