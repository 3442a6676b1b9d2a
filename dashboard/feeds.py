"""``/status/feed.atom``: the public status page as an Atom feed (Django's syndication framework).

Public like ``/status/`` (and off with it): incidents and planned maintenance, each entry
with its public updates only. Internal notes never appear. Entries link to ``/status/``,
since readers of the feed may have no account.
"""

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.utils.feedgenerator import Atom1Feed
from django.utils.html import escape, linebreaks
from django.utils.translation import gettext as _

from . import selectors


class StatusFeed(Feed):
    feed_type = Atom1Feed

    def __call__(self, request, *args, **kwargs):
        if not settings.STATUS_PAGE_ENABLED:
            raise Http404("The status page is switched off.")
        response = super().__call__(request, *args, **kwargs)
        response["Cache-Control"] = "public, max-age=60"
        return response

    def title(self):
        return _("%(site)s service status") % {"site": settings.SITE_NAME}

    def link(self):
        return reverse("dashboard:status")

    def subtitle(self):
        return _("Incidents and planned maintenance, with their public updates.")

    def items(self):
        return selectors.status_feed(now=timezone.now())

    def item_title(self, item):
        obj = item["object"]
        if item["kind"] == "incident":
            state = obj.get_status_display()
            return f"{obj.ticket} · {state} · {obj.title}"
        return _("Maintenance · %(status)s · %(title)s") % {"status": obj.get_status_display(), "title": obj.title}

    def item_description(self, item):
        obj = item["object"]
        services = ", ".join(s.name for s in obj.services.all())
        parts = [f"<p><strong>{escape(_('Services'))}:</strong> {escape(services)}</p>"]
        if item["kind"] == "incident":
            for update in reversed(item["updates"]):
                when = timezone.localtime(update.effective_at).strftime("%Y-%m-%d %H:%M %Z")
                parts.append(
                    f"<p><strong>{escape(update.get_status_display())}</strong> · {escape(when)}</p>"
                    + linebreaks(escape(update.message))
                )
        else:
            starts = timezone.localtime(obj.starts_at).strftime("%Y-%m-%d %H:%M")
            ends = timezone.localtime(obj.ends_at).strftime("%Y-%m-%d %H:%M %Z")
            parts.append(f"<p>{escape(starts)} – {escape(ends)}</p>" + linebreaks(escape(obj.description)))
        return "".join(parts)

    def item_link(self, item):
        obj = item["object"]
        anchor = obj.ticket if item["kind"] == "incident" else f"maintenance-{obj.pk}"
        return f"{reverse('dashboard:status')}#{anchor}"

    def item_guid(self, item):
        obj = item["object"]
        key = obj.ticket if item["kind"] == "incident" else f"maintenance-{obj.pk}"
        return f"{settings.SITE_URL}/status/#{key}"

    item_guid_is_permalink = False

    def item_updateddate(self, item):
        return item["updated"]

    def item_pubdate(self, item):
        return item["published"]
