# Single-user image of twinhub: JupyterLab, the project, every twin, the built demo data and the
# "twinhub (Python 3)" kernel. Also the image of Dask Gateway's server, schedulers and workers
# (hub/helm/dask-gateway-values.yaml), so notebooks and workers run the same code.
#
#   docker build -t ghcr.io/twinhub/singleuser:0.1.0 .
FROM python:3.11-slim-bookworm

ARG NB_UID=1000
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    TWINHUB_STATE_DIR=/opt/twinhub/state

RUN apt-get update \
 && apt-get install -y --no-install-recommends build-essential git make tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid ${NB_UID} --shell /bin/bash jovyan

WORKDIR /opt/twinhub
COPY . .
# editable: the hub/, twins/ and catalogs/ folders are read from this checkout at run time
RUN pip install --editable . $(for t in twins/*/pyproject.toml; do echo --editable "$(dirname $t)"; done) \
 && python -m twinhub.kernels install --sys-prefix \
 && python -m twinhub.catalogs.build \
 && chown -R jovyan /opt/twinhub/state

USER jovyan
WORKDIR /home/jovyan
ENTRYPOINT ["tini", "--"]
CMD ["jupyterhub-singleuser"]
