# One image for every Python service (gateway, collector, analytics, api): `ganlink <service> run`.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY ganlink ganlink
COPY gateway gateway
COPY collector collector
COPY analytics analytics
COPY api api
RUN pip install --no-cache-dir --prefix=/install ".[grafana]"

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 ganlink && mkdir -p /data /registry && chown ganlink /data /registry
COPY --from=build /install /usr/local
COPY deploy/gateway /app/deploy/gateway
WORKDIR /app
USER ganlink
ENV GANLINK_DATA_DIR=/data \
    PYTHONUNBUFFERED=1
ENTRYPOINT ["ganlink"]
CMD ["--help"]
