# One image for web, worker and scheduler (docker-compose.yml picks the command).
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 FLASK_APP=wsgi PORTAL_ENV=production
WORKDIR /app
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN pip install --no-cache-dir --no-deps -e . \
    && useradd --create-home --uid 1000 portal \
    && mkdir -p /srv/data /srv/releases /srv/runs /srv/lineage \
    && chown -R portal /srv /app
USER portal
EXPOSE 8000
# Workers and threads: gunicorn.conf.py (WEB_CONCURRENCY, GUNICORN_THREADS; docs/runbook.md).
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "wsgi:app"]
