# The streamproc service image: worker and exporter share it. It runs as an unprivileged
# user (uid/gid 10001) that owns only /data (docs/security.md).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streamproc ./streamproc
COPY exporter ./exporter
RUN pip install --no-cache-dir .
RUN groupadd --system --gid 10001 streamproc \
 && useradd --system --uid 10001 --gid 10001 --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin streamproc \
 && mkdir -p /data \
 && chown 10001:10001 /data
ENV STREAMPROC_DATA_DIR=/data HOME=/data
VOLUME ["/data"]
# `streamproc web` (STREAMPROC_HTTP_PORT)
EXPOSE 8080
# Numeric, so that a runtime that requires a non-root user (runAsNonRoot) can check it.
USER 10001:10001
ENTRYPOINT ["streamproc"]
CMD ["--help"]
