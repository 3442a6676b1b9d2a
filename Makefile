# Beacon: `make run` starts the demo, `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Tests keep their SQLite files and embedded broker apart from the demo's.
TEST_ENV := BEACON_VAR_DIR=$(CURDIR)/var/test

.PHONY: run test lint fmt bench venv check clean

$(VENV)/.installed-run: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.installed-run

venv: $(VENV)/.installed-run

run: $(VENV)/.installed-run
	mkdir -p var
	DEBUG=$${DEBUG:-true} $(PY) manage.py migrate --no-input -v 0
	DEBUG=$${DEBUG:-true} $(PY) manage.py seed_demo
	bin/run

test: $(VENV)/.installed-dev
	mkdir -p var/test
	$(TEST_ENV) $(VENV)/bin/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: $(VENV)/.installed-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

check: $(VENV)/.installed-dev
	$(PY) manage.py check
	$(PY) manage.py makemigrations --check --dry-run

bench: $(VENV)/.installed-dev
	$(TEST_ENV) $(PY) -m bench $(BENCH_ARGS)

clean:
	rm -rf var/test var/broker

# Translations: extract, then translate what `msgfmt --statistics` says is missing.
I18N_IGNORE := --ignore=.venv --ignore=var --ignore=staticfiles --ignore=tests --ignore=node_modules --ignore=static/vendor
.PHONY: messages
messages: $(VENV)/.installed-run
	BEACON_ALLOW_DEV_SECRET_KEY=true $(PY) manage.py makemessages -l fr $(I18N_IGNORE)
	BEACON_ALLOW_DEV_SECRET_KEY=true $(PY) manage.py makemessages -d djangojs -l fr $(I18N_IGNORE)
	for po in locale/*/LC_MESSAGES/*.po; do msgfmt --check --statistics -o /dev/null $$po; done
	BEACON_ALLOW_DEV_SECRET_KEY=true $(PY) manage.py compilemessages --ignore=.venv --ignore=var
