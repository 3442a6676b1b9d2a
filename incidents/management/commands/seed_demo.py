"""Load realistic demo data: services, people, a year of incidents. Safe to run twice."""

import importlib
import os
import random
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from incidents import services as incident_services
from incidents.choices import Status
from incidents.models import Incident, Service, Subscriber

SERVICES = [
    # slug, name, SLO, front end?
    ("web-storefront", "Web Storefront", "99.95", True),
    ("mobile-api", "Mobile App API", "99.9", True),
    ("partner-portal", "Partner Portal", "99.5", True),
    ("payments", "Payments", "99.95", False),
    ("sso", "Single Sign-On", "99.9", False),
    ("search", "Search", "99.5", False),
    ("orders", "Order Service", "99.9", False),
    ("email-gateway", "Email Gateway", "99.0", False),
]
PEOPLE = [
    # username, first, last, role
    ("helpdesk", "Hana", "Desk", "helpdesk"),
    ("engineer", "Eli", "Ngata", "engineer"),
    ("priya", "Priya", "Raman", "engineer"),
    ("marco", "Marco", "Bianchi", "engineer"),
    ("leadership", "Lena", "Director", "leadership"),
]
PROBLEMS = [
    ("Checkout returns 502 for a share of users", "Load balancer health checks flapping after deploy."),
    ("Login loops back to the sign-in page", "Session cookie rejected by SSO after certificate rotation."),
    ("Search results empty for new products", "Indexer stalled on a malformed product feed."),
    ("Payments declined with timeout", "Card processor latency above 10 s; retries exhausted."),
    ("Order confirmation emails delayed", "Mail queue backlog after provider throttling."),
    ("Partner invoices page very slow", "Missing index after schema migration."),
    ("Mobile app cannot refresh tokens", "Clock skew on one API node."),
    ("Elevated 5xx on product pages", "Cache cluster node lost; origin overloaded."),
    ("Database failover during peak", "Primary disk filled by runaway log table."),
    ("Images not loading", "CDN origin credentials expired."),
]
DEMO_APPS = ("metrics", "batches", "automation", "dashboard", "maintenance")


class Command(BaseCommand):
    help = "Load demo data (idempotent): services, subscribers, role users and a year of incidents."

    def add_arguments(self, parser):
        parser.add_argument("--incidents", type=int, default=160, help="How many historic incidents")
        parser.add_argument("--seed", type=int, default=42)

    def handle(self, *args, incidents, seed, **options):
        rng = random.Random(seed)
        now = timezone.now().replace(second=0, microsecond=0)
        password = os.environ.get("DEMO_PASSWORD", "beacon-demo")
        with transaction.atomic():
            services = self._services()
            users = self._users(password)
        created = self._incidents(count=incidents, rng=rng, now=now, services=services, users=users)
        self.stdout.write(f"Demo incidents: {created} new, {Incident.objects.count()} in all.")
        for app in DEMO_APPS:
            # Every app in DEMO_APPS has a demo module; a broken one must fail loudly here.
            module = importlib.import_module(f"{app}.demo")
            module.seed(now=now, rng=random.Random(seed), stdout=self.stdout)
        self.stdout.write(self.style.SUCCESS("Demo data ready."))

    def _services(self):
        services = []
        for slug, name, slo, front in SERVICES:
            service, _ = Service.objects.get_or_create(
                slug=slug, defaults={"name": name, "slo_target": slo, "description": "Customer-facing" if front else ""}
            )
            services.append(service)
            for who in ("oncall", "support"):
                Subscriber.objects.get_or_create(service=service, email=f"{who}+{slug}@example.com")
        return services

    def _users(self, password):
        User = get_user_model()
        users = {}
        for username, first, last, role in PEOPLE:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={"first_name": first, "last_name": last, "email": f"{username}@example.com"},
            )
            if created:
                user.set_password(password)
                user.save()
            user.groups.add(Group.objects.get_or_create(name=role)[0])
            users[username] = user
        admin, created = User.objects.get_or_create(
            username="admin", defaults={"email": "admin@example.com", "is_staff": True, "is_superuser": True}
        )
        if created:
            admin.set_password(password)
            admin.save()
        return users

    def _incidents(self, *, count, rng, now, services, users):
        engineers = [users[name] for name in ("engineer", "priya", "marco")]
        created = 0
        for index in range(count):
            ref = f"demo:{index}"
            if Incident.objects.filter(source_ref=ref).exists():
                continue
            ongoing = index >= count - 2
            started = now - timedelta(hours=rng.uniform(1, 6)) if ongoing else now - timedelta(days=rng.uniform(1, 365))
            title, cause = rng.choice(PROBLEMS)
            severity = rng.choices([1, 2, 3, 4], weights=[1, 3, 5, 3])[0]
            affected = rng.sample(services, k=rng.choice([1, 1, 1, 2, 3]))
            with transaction.atomic():
                incident = incident_services.incident_open(
                    title=title,
                    severity=severity,
                    services=affected,
                    description=f"Users report: {title.lower()}.",
                    engineer=rng.choice(engineers),
                    external_url=f"https://tickets.example.com/browse/OPS-{1000 + index}",
                    started_at=started,
                    by=users["helpdesk"],
                    now=started + timedelta(minutes=rng.randint(3, 20)),
                    source_ref=ref,
                    notify=False,
                )
                at = incident.updates.first().created_at
                for status in (Status.IDENTIFIED, Status.MONITORING):
                    at += timedelta(minutes=rng.randint(10, 120))
                    if at >= now:
                        break
                    new_severity = incident.severity
                    if rng.random() < 0.2:
                        new_severity = max(1, min(4, incident.severity + rng.choice([-1, 1])))
                    incident_services.incident_update(
                        incident=incident,
                        message=f"{status.label}: {cause}"
                        if status == Status.IDENTIFIED
                        else "Fix deployed; watching.",
                        status=status,
                        severity=new_severity,
                        by=rng.choice(engineers),
                        now=at,
                        notify=False,
                    )
                    incident.refresh_from_db()
                if not ongoing:
                    at += timedelta(minutes=rng.randint(10, 240))
                    if at < now:
                        incident_services.incident_resolve(
                            incident=incident,
                            message="Resolved. " + cause,
                            resolved_at=at,
                            by=incident.engineer,
                            now=at,
                            notify=False,
                        )
            created += 1
        return created
