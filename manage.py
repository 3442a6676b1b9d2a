#!/usr/bin/env python
import os
import sys

# Commands that sign nothing and serve nothing may run without a SECRET_KEY (the
# development key), so `manage.py check` and `makemigrations --check` work in a checkout.
SIGNS_NOTHING = {"check", "makemigrations", "collectstatic", "help"}


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if len(sys.argv) > 1 and sys.argv[1] in SIGNS_NOTHING:
        os.environ.setdefault("BEACON_ALLOW_DEV_SECRET_KEY", "true")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
