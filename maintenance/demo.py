"""Demo planned maintenance for `seed_demo`: one past, one under way, two coming up.
Safe to run twice (each is keyed by a ``demo:`` source reference; nobody is emailed)."""

from datetime import timedelta

from incidents.models import Service

from .choices import MaintenanceStatus
from .services import maintenance_import

PLANS = [
    # key, title, services, start offset (hours from now), length (hours), description
    ("db-upgrade", "Database minor version upgrade", ["orders", "payments"], -24 * 9, 2,
     "Rolling upgrade of the order and payment databases; writes pause for up to a minute per node."),
    ("cdn-rotation", "CDN certificate rotation", ["web-storefront"], -1, 3,
     "Certificates are swapped region by region; a few users may need to reload."),
    ("sso-migration", "Single Sign-On cluster migration", ["sso", "partner-portal"], 24 * 2, 4,
     "Sign-in moves to the new cluster. Existing sessions stay valid."),
    ("search-reindex", "Search full reindex", ["search"], 24 * 6, 6,
     "Search results may be incomplete during the reindex."),
]  # fmt: skip


def seed(*, now, rng, stdout) -> None:
    by_slug = {s.slug: s for s in Service.objects.all()}
    created = 0
    for key, title, slugs, offset, hours, description in PLANS:
        services = [by_slug[slug] for slug in slugs if slug in by_slug]
        if not services:
            continue
        starts_at = now + timedelta(hours=offset)
        _, new = maintenance_import(
            source_ref=f"demo:{key}",
            title=title,
            description=description,
            services=services,
            starts_at=starts_at,
            ends_at=starts_at + timedelta(hours=hours),
            status=MaintenanceStatus.SCHEDULED,
            now=now,
        )
        created += new
    stdout.write(f"Demo planned maintenance: {created} new.")
