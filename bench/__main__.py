"""`make bench`: run every scenario in ``bench/scenario_*.py`` (or those named on the command line).

Each scenario module has ``NAME`` and ``run(args) -> str`` returning a Markdown section
with its measurements; results are printed and also written to ``var/bench/<name>.md``
so ``docs/benchmarks.md`` can be updated from a real run.
"""

import argparse
import importlib
import os
import pkgutil
import sys
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Benchmarks run on a developer's machine against a throw-away database.
os.environ.setdefault("SECRET_KEY", "bench-only-not-a-secret")


DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/beacon_bench"


def _ensure_database(url: str) -> None:
    if not url.startswith("postgres"):
        return
    import psycopg

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def main() -> int:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("scenarios", nargs="*", help="scenario names (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller data sets, for a smoke run")
    args = parser.parse_args()

    # Benchmarks measure the production stack: PostgreSQL (and Redis where a scenario
    # needs a broker). A dedicated database keeps the numbers apart from real data.
    os.environ.setdefault("DATABASE_URL", os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    _ensure_database(os.environ["DATABASE_URL"])
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    root = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(root)]) if m.name.startswith("scenario_"))
    if args.scenarios:
        names = [n for n in names if n.removeprefix("scenario_") in args.scenarios or n in args.scenarios]
    out = Path(os.environ.get("BEACON_VAR_DIR", "var")) / "bench"
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        print(f"\n### {module.NAME}", flush=True)
        section = module.run(args)
        print(section, flush=True)
        (out / f"{name}.md").write_text(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
