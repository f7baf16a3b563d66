# The controller image. The same image runs the long-lived controller (ECS Fargate
# service) and the worker jobs (RunTask) with a different command.
#
# The base is pinned by digest (python:3.11-slim's multi-platform index), so a rebuild
# gets the same bytes; to move it deliberately, look the new digest up with
# `docker buildx imagetools inspect python:3.11-slim` and change it here.
FROM python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7

# git: desired state is followed from a git repository (openssh-client: over ssh).
# zstd: snapshots are made by GNU tar (in the base image) piped into zstd
# (controller/snapshots/archiver.py).
RUN apt-get update \
 && apt-get install -y --no-install-recommends git openssh-client zstd \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# Dependencies first, from the lock file CI uses (constraints.txt), in a layer of their
# own: a change to the code reuses it, and only a change to the lock or the dependency
# list rebuilds it. The pip version is the one `make install` uses.
COPY constraints.txt pyproject.toml ./
RUN pip install --no-cache-dir pip==26.3
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > runtime-requirements.txt \
 && pip install --no-cache-dir -c constraints.txt -r runtime-requirements.txt

# Then the package alone (no extras: the emulator, moto, is for tests and local mode,
# never in the image), without resolving again; pip check proves the layer above holds
# everything it needs. tests/deployment/test_image_install.py runs these same steps in a
# fresh virtual environment.
COPY README.md ./
COPY controller ./controller
# The JSON Schemas' one source: controller/desired/schemas links here, and the wheel built
# below carries the files, so the installed package validates on its own.
COPY manifests ./manifests
RUN pip install --no-cache-dir --no-deps . && pip check

ENV STUDIO_OPERATOR_EFS_ROOT=/mnt/efs \
    PYTHONUNBUFFERED=1

# Root is needed to create share directories with their users' owners on EFS (through
# a root access point); the controller never follows links it finds there.
# The task definition passes the desired-state source and region, e.g.
#   run --desired https://git.example.com/platform/estate.git --git-subdir desired_state
#       --region us-east-1 --efs-root /mnt/efs
ENTRYPOINT ["studioctl"]
CMD ["run", "--help"]
