# The BME CDS service: gunicorn serving the Flask app, PostgreSQL driver included.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY setup.cfg pyproject.toml README.md ./
COPY service ./service
COPY hooks ./hooks
COPY valuesets ./valuesets
RUN pip install '.[postgres]' \
 && useradd --system --uid 10001 --home-dir /app bme \
 && mkdir -p /app/data && chown bme /app/data
USER bme

# Inside a container the service must listen on all interfaces, so authentication stays on:
# mount a trusted-clients file and point BME_TRUSTED_CLIENTS at it (see docs/security.md).
ENV BME_DATA_DIR=/app/data
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=2).status == 200 else 1)"]
CMD ["bme-cds", "serve", "--host", "0.0.0.0", "--port", "8080"]
