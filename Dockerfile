# inferwatch service image: the FastAPI app with the example model baked in.
FROM python:3.11-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY constraints.txt pyproject.toml README.md ./
COPY src ./src
# Every dependency at the version constraints.txt pins (the image is reproducible).
RUN pip install --constraint constraints.txt '.[server,postgres]' \
 && inferwatch train --example iris --out /opt/inferwatch/models/iris \
 && useradd --system --uid 10001 --home-dir /data inferwatch \
 && mkdir -p /data && chown inferwatch /data

# Numeric, so Kubernetes' runAsNonRoot can verify it (deploy/kubernetes runs it as 10001).
USER 10001
# Inside the container the service listens on all interfaces of its own network
# namespace; docker-compose.yml publishes the port on the host's loopback only.
ENV INFERWATCH_HOST=0.0.0.0 \
    INFERWATCH_PORT=8000 \
    INFERWATCH_DATA_DIR=/data \
    INFERWATCH_MODEL_DIR=/opt/inferwatch/models/iris
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
ENTRYPOINT ["inferwatch"]
CMD ["serve"]
