FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# libldap / libsasl: python-ldap (LDAP sign-in) is built from source; its build tools go after.
RUN apt-get update && apt-get install -y --no-install-recommends \
      libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core curl libldap-2.5-0 libsasl2-2 \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt .
RUN apt-get update && apt-get install -y --no-install-recommends build-essential libldap2-dev libsasl2-dev \
    && pip install --no-cache-dir -r requirements.txt \
    && apt-get purge -y build-essential libldap2-dev libsasl2-dev && apt-get autoremove -y \
    && rm -rf /var/lib/apt/lists/*
COPY . .
RUN BEACON_VAR_DIR=/tmp/beacon SECRET_KEY=build python manage.py collectstatic --no-input -v 0
RUN useradd --system beacon && mkdir -p /app/var && chown beacon /app/var
USER beacon
EXPOSE 8000
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
