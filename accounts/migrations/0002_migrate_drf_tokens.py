"""Tokens made before Beacon had its own (DRF's authtoken, which stored keys in clear):
keep them working, stored as hashes, named "migrated"; the old table is left for DRF."""

import hashlib

from django.db import migrations


def copy_tokens(apps, schema_editor):
    connection = schema_editor.connection
    if "authtoken_token" not in connection.introspection.table_names():
        return
    ApiToken = apps.get_model("accounts", "ApiToken")
    with connection.cursor() as cursor:
        cursor.execute("SELECT key, user_id, created FROM authtoken_token")
        rows = cursor.fetchall()
    for key, user_id, created in rows:
        digest = hashlib.sha256(key.encode()).hexdigest()
        if not ApiToken.objects.filter(key_hash=digest).exists():
            ApiToken.objects.create(
                user_id=user_id, name="migrated", prefix=key[:8], key_hash=digest, created_at=created
            )


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_initial")]

    operations = [migrations.RunPython(copy_tokens, migrations.RunPython.noop)]
