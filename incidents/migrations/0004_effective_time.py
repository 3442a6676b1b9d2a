"""Updates say which severity they put in force (``sets_severity``), so the history can be
replayed in effective order; incidents say which tool opened them (``source``)."""

from django.db import migrations, models

OPENED, REOPENED = "opened", "reopened"


def fill_sets_severity(apps, schema_editor):
    IncidentUpdate = apps.get_model("incidents", "IncidentUpdate")
    for update in IncidentUpdate.objects.all().only("id", "kind", "severity", "changes").iterator():
        changed = (update.changes or {}).get("severity")
        if update.kind == OPENED:
            value = update.severity
        elif isinstance(changed, list) and len(changed) == 2:
            value = changed[1]
        else:
            continue
        IncidentUpdate.objects.filter(pk=update.pk).update(sets_severity=value)
    for incident_id, source_ref in (
        apps.get_model("incidents", "Incident").objects.exclude(source_ref=None).values_list("id", "source_ref")
    ):
        apps.get_model("incidents", "Incident").objects.filter(pk=incident_id).update(
            source=source_ref.split(":", 1)[0][:30]
        )


class Migration(migrations.Migration):
    dependencies = [("incidents", "0003_postmortems")]

    operations = [
        migrations.AddField(
            model_name="incident",
            name="source",
            field=models.CharField(blank=True, default="", max_length=30),
        ),
        migrations.AddField(
            model_name="incidentupdate",
            name="sets_severity",
            field=models.PositiveSmallIntegerField(
                blank=True,
                choices=[(1, "Sev 1 – critical"), (2, "Sev 2 – major"), (3, "Sev 3 – minor"), (4, "Sev 4 – low")],
                null=True,
            ),
        ),
        migrations.AlterField(
            model_name="incidentupdate",
            name="kind",
            field=models.CharField(
                choices=[
                    ("opened", "Opened"),
                    ("updated", "Updated"),
                    ("edited", "Edited"),
                    ("resolved", "Resolved"),
                    ("reopened", "Reopened"),
                    ("corrected", "Corrected"),
                ],
                max_length=20,
            ),
        ),
        migrations.RunPython(fill_sets_severity, migrations.RunPython.noop),
    ]
