# The pipeline as a container image, run by Kestra's Docker task runner (docs/kestra.md).
# `make image` builds it: the wheels are downloaded on the host first (build/wheels/), so the
# build installs with --no-index and needs no network. The build context is an allowlist
# (.dockerignore): nothing of tests/, data/, outputs/, bench/ or .env can enter the image.
#
# BASE_IMAGE: a Debian-based image with python3 (3.11 or later), its venv module and CA
# certificates. The tests build one from Debian's packages (debootstrap, then podman import).
ARG BASE_IMAGE=docker.io/library/python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ARG VERSION=unknown
ARG REVISION=unknown
LABEL org.opencontainers.image.title="bottleneck-pipeline" \
      org.opencontainers.image.description="BottleNeck monthly revenue and premium-wine pipeline: papermill notebooks over DuckDB" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

# The runtime dependencies only (no dev or lab extra), pinned by the lock, from the wheels
# mounted for this step alone (they never land in a layer). Then what the run never imports
# (the packages' own test suites, C headers) goes, everything is compiled to bytecode, and
# pip is removed: nothing installs anything at run time.
RUN --mount=type=bind,source=build/wheels,target=/wheels \
    --mount=type=bind,source=requirements.lock,target=/requirements.lock \
    python3 -m venv /opt/bottleneck/.venv \
    && /opt/bottleneck/.venv/bin/python -m pip install --no-index --find-links /wheels --no-cache-dir \
        --no-compile --disable-pip-version-check --quiet -c /requirements.lock "bottleneck-pipeline==${VERSION}" \
    && /opt/bottleneck/.venv/bin/python -m pip uninstall --yes --quiet pip \
    && cd /opt/bottleneck/.venv/lib/python3*/site-packages \
    && find . -depth -type d \( -name tests -o -name include \) -exec rm -rf {} + \
    && find . -type f \( -name conftest.py -o -name '*.pyx' -o -name '*.pxd' -o -name '*.pyi' \) -delete \
    && python3 -m compileall -q -j 0 /opt/bottleneck/.venv/lib

COPY run_pipeline.py /opt/bottleneck/
COPY notebooks/ /opt/bottleneck/notebooks/
COPY params/ /opt/bottleneck/params/
# The notebooks as committed (nbstripout): a notebook run in JupyterLab since, its outputs
# (perhaps a month's data) still in the working tree, loses them here; a clean one is untouched,
# so the manifest's SHA-256 of each notebook matches the repository's.
RUN ["/opt/bottleneck/.venv/bin/python", "-c", "import pathlib, nbformat\nfor path in pathlib.Path('/opt/bottleneck/notebooks').glob('*.ipynb'):\n    nb = nbformat.read(path, as_version=4)\n    code = [c for c in nb.cells if c.cell_type == 'code']\n    if any(c.outputs or c.execution_count for c in code):\n        for c in code:\n            c.outputs, c.execution_count = [], None\n        nbformat.write(nb, path)\n"]

# A fixed non-root user runs the pipeline (under Kestra too: the flow's setpriv).
RUN useradd --uid 10001 --user-group --create-home --home-dir /home/bottleneck --shell /usr/sbin/nologin bottleneck
ENV PATH=/opt/bottleneck/.venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    BOTTLENECK_ROOT=/opt/bottleneck \
    BOTTLENECK_SOURCE_REVISION=${REVISION} \
    HOME=/home/bottleneck \
    LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER bottleneck
WORKDIR /home/bottleneck
# matplotlib's font cache, built once here (at run time it would say so on stderr)
RUN python -c "import matplotlib.font_manager"
CMD ["python", "/opt/bottleneck/run_pipeline.py", "--help"]
