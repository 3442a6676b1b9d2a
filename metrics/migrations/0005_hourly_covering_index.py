"""Hourly aggregates read by (series, hour range) without visiting the table.

The report sums a period's hours per series and picks the worst hours: with the values in
the index (``INCLUDE (count, total)``) PostgreSQL answers from the index alone. Rows are
written in the order polls arrive, so a year of one series lay on ~2,800 different heap
pages: 1.6 s for 300 services' year before, one index range per series after. The
single-column ``series_id`` index is dropped: the unique (series, hour) one serves lookups
by series, and the planner preferred the narrow one and then read the heap.

PostgreSQL only (covering indexes); other databases keep the unique index alone.
"""

import django.db.models.deletion
from django.db import migrations, models

INDEX = "metrics_hourly_series_hour_cover"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {INDEX} ON metrics_metrichourly (series_id, hour) INCLUDE (count, total)"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [
        ("metrics", "0004_sample_series_index_is_the_unique_one"),
    ]

    operations = [
        migrations.AlterField(
            model_name="metrichourly",
            name="series",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="hourly",
                to="metrics.metricseries",
            ),
        ),
        migrations.RunPython(create, drop, elidable=False),
    ]
