# The back end's one image: API, worker, beat, Flower and migrations are all `fba <command>`
# (see docker-compose.yml). Build: docker build -t fba-tasks .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so a code change does not reinstall them: exactly the versions of requirements.lock.
COPY pyproject.toml README.md requirements.lock ./
RUN pip install -r requirements.lock

COPY alembic.ini ./
COPY backend ./backend
RUN pip install --no-deps -e . \
    && useradd --system --home-dir /app --shell /usr/sbin/nologin fba \
    && mkdir -p /app/.fba/flower \
    && chown -R fba /app/.fba

USER fba
EXPOSE 8000 8555 9808
CMD ["fba", "api", "--host", "0.0.0.0", "--port", "8000"]
