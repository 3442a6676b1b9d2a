"""Start the test provider: ``python -m tests.oidc_provider.serve PORT``.

Reads ``setup.json`` from the state folder: the relying party (client id, secret, redirect
URI) and the users (username, password, email, names). Migrates a fresh database, makes an
RSA signing key, then serves on 127.0.0.1:PORT until killed."""

import json
import os
import sys
from pathlib import Path


def main():
    port = sys.argv[1]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.oidc_provider.settings")
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from oidc_provider.models import Client, ResponseType

    state = Path(os.environ["OIDC_PROVIDER_STATE"])
    setup = json.loads((state / "setup.json").read_text())
    call_command("migrate", verbosity=0, interactive=False)
    call_command("creatersakey", verbosity=0)
    client = Client.objects.create(
        name="Beacon",
        client_type="confidential",
        client_id=setup["client_id"],
        client_secret=setup["client_secret"],
        jwt_alg="RS256",
        require_consent=False,
        reuse_consent=True,
        _redirect_uris=setup["redirect_uri"],
        _scope="openid email profile groups",
    )
    client.response_types.add(ResponseType.objects.get(value="code"))
    for person in setup["users"]:
        User.objects.create_user(
            person["username"],
            person.get("email", ""),
            person["password"],
            first_name=person.get("first_name", ""),
            last_name=person.get("last_name", ""),
        )
    call_command("runserver", f"127.0.0.1:{port}", use_reloader=False, use_threading=True, skip_checks=True)


if __name__ == "__main__":
    main()
