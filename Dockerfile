# syntax=docker/dockerfile:1
# One image for every myHealth process. The command picks the service (ENTRYPOINT is `python -m`):
#   collector run | collector backfill --all --since YYYY-MM-DD
#   oura_simulator --host 0.0.0.0 (the development target only: `--target development`)
#   stream_processor worker | stream_processor replay --from-beginning
#   gateway (default) | migrations upgrade
# Base: python:3.11.14-slim-bookworm in both stages (keep the two FROM lines in step).

# ---- build: resolve and install the distribution into a self-contained virtualenv -------------
FROM python:3.11.14-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/venv
# The dependencies all ship wheels for CPython 3.11 on x86_64 and arm64: no compiler is needed,
# and none is installed in any stage. dumb-init (PyPI wheel) is PID 1, forwarding signals so that
# the stream processor, uvicorn and the collector shut down cleanly on SIGTERM.
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY migrations ./migrations
COPY collector ./collector
COPY oura_connection ./oura_connection
COPY stream_processor ./stream_processor
COPY gateway ./gateway
RUN /opt/venv/bin/pip install --no-cache-dir ".[msk-iam]" "dumb-init==1.2.5.post1" \
    && /opt/venv/bin/python -m compileall -q /opt/venv/lib
# The CA bundle RDS certificates chain to (SSL_MODE=verify-full, SSL_ROOT_CERT): fetched at build
# time, so no process reaches out for it at run time.
RUN mkdir -p /opt/myhealth \
    && /opt/venv/bin/python -c "import urllib.request; urllib.request.urlretrieve('https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem', '/opt/myhealth/rds-global-bundle.pem')" \
    && grep -q "BEGIN CERTIFICATE" /opt/myhealth/rds-global-bundle.pem
# The Oura simulator (auto-approved consent, a known client secret, controls that mint tokens) is
# not in /src when the distribution is installed, so the venv has none of it: it is compiled
# apart, and only the development stage adds it.
COPY oura_simulator /opt/simulator/oura_simulator
RUN /opt/venv/bin/python -m compileall -q /opt/simulator

# ---- base: the venv only, as an unprivileged user ---------------------------------------------
FROM python:3.11.14-slim-bookworm AS base
LABEL org.opencontainers.image.title="myhealth" \
      org.opencontainers.image.description="myHealth: Oura Ring data collector, stream processor and API gateway" \
      org.opencontainers.image.source="https://github.com/myhealth/myhealth" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 myhealth \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/myhealth --create-home \
       --shell /usr/sbin/nologin myhealth
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/myhealth/rds-global-bundle.pem /etc/myhealth/rds-global-bundle.pem
ENV PATH=/opt/venv/bin:$PATH \
    HOME=/var/lib/myhealth \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    GATEWAY_PORT=8080 \
    COLLECTOR_METRICS_PORT=9101 \
    PROCESSOR_METRICS_PORT=9102
# HOME and working directory only: no process writes here (the root filesystem is read-only in
# Kubernetes and compose; /tmp is the one writable mount).
WORKDIR /var/lib/myhealth
USER 10001:10001
EXPOSE 8080 9100 9101 9102
# The image runs five different commands, so there is no single HEALTHCHECK: Kubernetes probes
# (/health, /ready) and the compose healthchecks are defined per service.
HEALTHCHECK NONE
ENTRYPOINT ["dumb-init", "--", "python", "-m"]
CMD ["gateway"]

# ---- development: adds the Oura simulator (docker-compose.yml builds this target) -------------
FROM base AS development
COPY --from=build /opt/simulator/oura_simulator /opt/venv/lib/python3.11/site-packages/oura_simulator

# ---- runtime (the default, last stage): production, without the simulator ---------------------
FROM base AS runtime
