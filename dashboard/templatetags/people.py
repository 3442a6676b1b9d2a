"""``{{ user|person }}``: a user's full name, else username, else a placeholder.

A chain like ``user.get_full_name|default:user.username`` breaks when ``user`` is None
(filter arguments are not resolved silently), and incidents often have no engineer.
"""

from django import template

register = template.Library()


@register.filter
def person(user, placeholder="—"):
    if user is None:
        return placeholder
    return user.get_full_name() or user.get_username()
