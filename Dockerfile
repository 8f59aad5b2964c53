# The streamproc service image: worker and (later) exporter share it.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streamproc ./streamproc
COPY exporter ./exporter
RUN pip install --no-cache-dir .
ENV STREAMPROC_DATA_DIR=/data
VOLUME ["/data"]
# `streamproc web` (STREAMPROC_HTTP_PORT)
EXPOSE 8080
ENTRYPOINT ["streamproc"]
CMD ["--help"]
