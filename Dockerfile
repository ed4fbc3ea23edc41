# One image for the three services; docker-compose.yml picks the process with `command`.
# Build stage: turn the project and its dependencies into wheels.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml ./
COPY shared ./shared
COPY services ./services
RUN pip wheel --wheel-dir /wheels .

# Run stage: only the installed wheels (no dev extras, no sources, no build tools).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=build /wheels /wheels
RUN pip install --no-index --find-links=/wheels social-prescribing \
    && rm -rf /wheels \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin socialrx
USER socialrx
WORKDIR /home/socialrx
ENV SP_HOST=0.0.0.0 \
    SP_DATA_DIR=/home/socialrx/var
EXPOSE 8001 8002 8003
CMD ["python", "-m", "services.referrals"]
