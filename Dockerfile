# eventbot: the bot on the console by default; set EVENTBOT_TELEGRAM_TOKEN and/or
# EVENTBOT_DISCORD_TOKEN to run it on those platforms. The database lives on a volume.
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
RUN pip install --no-cache-dir '.[discord,telegram,postgres]'

USER eventbot
VOLUME ["/data"]
CMD ["eventbot", "run"]
