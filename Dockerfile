# syntax=docker/dockerfile:1
# The operator image: `docker build -t cloudron-operator:0.1.0 .`
# Stage 1 builds the operator's wheel and the wheels of its dependencies; the final stage installs
# them from those files alone (no index, no compiler) and runs as a numeric non-root user.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator ./operator
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

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
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["python", "-m", "cloudron_operator"]
CMD ["run"]
