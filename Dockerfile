# Minimal image for the command line; the shipping issue turns this into the
# multi-stage web/worker/scheduler image.
FROM python:3.11-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY webhooks ./webhooks
RUN pip install --no-cache-dir .
RUN useradd --create-home --uid 10001 auditor
USER auditor
ENTRYPOINT ["yield-auditor"]
CMD ["--help"]
