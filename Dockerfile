# syntax=docker/dockerfile:1
# The operator image: `docker build -t cloudron-operator:0.1.0 .`
# Stage 1 downloads the dependencies pinned by requirements/operator.lock, each file checked against
# the lock's sha256 hashes, and builds the operator's wheel; the final stage installs them from those
# files alone (no index, no compiler) and runs as a numeric non-root user. The image carries the SBOM
# of its Python packages (sbom/cloudron-operator.cdx.json, made by `make sbom` from the same lock).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY requirements/operator.lock ./requirements/
RUN pip wheel --no-cache-dir --require-hashes --no-deps --wheel-dir /wheels -r requirements/operator.lock
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# A named account for uid 10001: Python's getpass and kopf's identity look the user up.
RUN groupadd --system --gid 10001 operator \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin operator
# The backup and restore Jobs run this image too: they need the database clients. pg_dump dumps
# servers up to its own major version (15 on bookworm): for newer servers, build on a newer base.
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client mariadb-client \
 && rm -rf /var/lib/apt/lists/*
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels cloudron-operator
COPY sbom/cloudron-operator.cdx.json /usr/share/doc/cloudron-operator/sbom.cdx.json
LABEL org.opencontainers.image.description="cloudron-operator; CycloneDX SBOM of its Python packages: /usr/share/doc/cloudron-operator/sbom.cdx.json"
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["python", "-m", "cloudron_operator"]
CMD ["run"]
