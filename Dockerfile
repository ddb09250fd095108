# One image, three roles chosen by its first argument: web (gunicorn, the default), worker and
# scheduler; also migrate and any other yield-auditor command. See docs/deploy.md#container.
# No syntax directive: BuildKit would fetch that frontend from Docker Hub, which not every
# builder reaches (docker/base-image.sh makes the base image from Debian's packages there).

# Builder: the project and its dependencies installed into a virtual environment.
FROM python:3.11-slim-bookworm AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/yield-auditor
WORKDIR /src
# The wheel carries the top-level templates/ as bot/templates (pyproject.toml maps them).
COPY pyproject.toml README.md LICENSE ./
COPY templates ./templates
COPY bot ./bot
COPY webhooks ./webhooks
RUN /opt/yield-auditor/bin/pip install .

# Runtime: the virtual environment, git (the audit command reads histories) and nothing else.
FROM python:3.11-slim-bookworm
# Debian's security updates replace exact versions, so git is not pinned to one.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*
# A fixed uid and gid, so volumes and Kubernetes' runAsUser can name them; the home directory is
# the working directory, with settings/ for the .env file and the key that /setup writes.
RUN groupadd --system --gid 10001 auditor \
    && useradd --system --uid 10001 --gid auditor --create-home \
        --home-dir /var/lib/yield-auditor --shell /usr/sbin/nologin auditor \
    && install -d -o auditor -g auditor -m 0700 /var/lib/yield-auditor/settings
COPY --from=builder /opt/yield-auditor /opt/yield-auditor
COPY docker/entrypoint.sh docker/gunicorn.conf.py docker/healthcheck.py /opt/yield-auditor/docker/
ENV PATH=/opt/yield-auditor/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORT=8000 \
    YIELD_AUDITOR_ENV_FILE=/var/lib/yield-auditor/settings/.env
WORKDIR /var/lib/yield-auditor
USER 10001:10001
EXPOSE 8000
# For the web role; the compose file turns it off for worker and scheduler.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "/opt/yield-auditor/docker/healthcheck.py"]
ENTRYPOINT ["/opt/yield-auditor/docker/entrypoint.sh"]
CMD ["web"]
