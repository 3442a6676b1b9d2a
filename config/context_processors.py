from django.conf import settings
from django.utils import translation


def ui(request):
    """What base.html needs on every page: languages for the switch, live-refresh period."""
    current = translation.get_language() or settings.LANGUAGE_CODE
    return {
        "ui_languages": [
            {"code": code, "name": name, "current": translation.get_supported_language_variant(current) == code}
            for code, name in settings.LANGUAGES
        ],
        "live_refresh_seconds": settings.LIVE_REFRESH_SECONDS,
    }
