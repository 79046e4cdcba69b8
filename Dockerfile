# eventbot: the bot on the console by default; set EVENTBOT_TELEGRAM_TOKEN and/or
# EVENTBOT_DISCORD_TOKEN (or the EVENTBOT_MATRIX_* settings) to run it on those platforms. The database lives on a volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    EVENTBOT_DB=/data/eventbot.db

RUN useradd --create-home --uid 10001 eventbot \
    && mkdir -p /data && chown eventbot:eventbot /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY adapters ./adapters
COPY schedules ./schedules
RUN pip install --no-cache-dir '.[discord,telegram,matrix,postgres]'

# The web server (projector, admin page, /healthz, /metrics) listens here inside the container;
# publish it with -p 8080:8080 to reach it from outside.
ENV EVENTBOT_WEB_PORT=8080 \
    EVENTBOT_WEB_HOST=0.0.0.0
EXPOSE 8080

# Healthy when /healthz answers 200: the database answers and every platform is connected.
# No curl in the image: Python's urllib asks (a 503 or no answer raises, and exits 1). With
# EVENTBOT_WEB_PORT set empty there is no web server, so nothing to ask.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD python -c "import os, sys, urllib.request; port = os.environ.get('EVENTBOT_WEB_PORT', '').strip(); sys.exit(0 if not port else urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=8).status != 200)"

USER eventbot
VOLUME ["/data"]
CMD ["eventbot", "run"]
