"""Template filters every template has (TEMPLATES ``builtins``)."""

from django import template

from config.api import http_url

register = template.Library()


@register.filter(name="http_url")
def http_url_filter(value):
    """The link if it is http(s), else "": stored links are rendered only through this."""
    return http_url(value)
