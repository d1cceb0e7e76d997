# Production image of the losslab dashboard: gunicorn serving app:server.
#   docker build -t losslab .
#   docker run --rm --read-only -p 8050:8050 losslab
# Settings (environment): PORT (default 8050), WEB_CONCURRENCY (workers, default 2),
# GUNICORN_CMD_ARGS (any other gunicorn flag). Dash debug mode is never on here:
# gunicorn imports app:server and never calls app.run().
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# Dependencies first, so editing the app does not reinstall them. The venv is
# owned by root: the app user can run it but not change it. Removing pip, the
# packages' own test suites and the JavaScript source maps saves ~50 MB; none
# of them is needed to serve the app.
COPY requirements.txt /tmp/requirements.txt
RUN python -m venv "$VIRTUAL_ENV" \
    && pip install --no-cache-dir -r /tmp/requirements.txt \
    && pip uninstall --yes --quiet pip \
    && find "$VIRTUAL_ENV" -depth \( -type d -name tests -o -type f -name '*.js.map' \) \
        -exec rm -rf {} + \
    && rm /tmp/requirements.txt

RUN groupadd --gid 10001 losslab \
    && useradd --uid 10001 --gid losslab --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin losslab

WORKDIR /app
COPY app.py ./
COPY losslab/ losslab/
COPY assets/ assets/

# Numeric, so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001

# gunicorn binds 0.0.0.0:$PORT when PORT is set and takes its worker count from
# WEB_CONCURRENCY.
ENV PORT=8050 \
    WEB_CONCURRENCY=2
EXPOSE 8050

HEALTHCHECK --interval=5s --timeout=3s --start-period=5s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8050'), timeout=2)"]

# --worker-tmp-dir /dev/shm: workers' heartbeat files go to a tmpfs, so the image
# works with `docker run --read-only`. --no-control-socket: gunicornc's socket
# would need a writable $HOME; in a container, signals do that job.
# --preload: the app is imported once in the master and forked, so workers start at
# once and share its memory.
# --graceful-timeout 8: requests are short, but on a loaded machine a few take
# over 5 s; 8 s still ends SIGTERM (`docker stop`, 10 s grace) in a clean exit,
# never in SIGKILL.
CMD ["gunicorn", "--preload", "--worker-class", "gthread", "--threads", "4", \
     "--worker-tmp-dir", "/dev/shm", "--no-control-socket", \
     "--access-logfile", "-", "--error-logfile", "-", \
     "--graceful-timeout", "8", "app:server"]
