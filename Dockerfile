# The controller image. The same image runs the long-lived controller (ECS Fargate
# service) and, later, the worker jobs (RunTask) with a different command.
FROM python:3.11-slim

# git: desired state can be followed from a git repository. zstd: snapshots are made by
# GNU tar (in the base image) piped into zstd (controller/snapshots/archiver.py).
RUN apt-get update \
 && apt-get install -y --no-install-recommends git zstd \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY controller ./controller
# The JSON Schemas' one source: controller/desired/schemas links here, and the wheel built
# below carries the files, so the installed package validates on its own.
COPY manifests ./manifests
# No extras: the emulator (moto) is for tests and local mode, never in the image.
# tests/deployment/test_image_install.py installs exactly this way and runs studioctl.
RUN pip install --no-cache-dir -c constraints.txt .

ENV STUDIO_OPERATOR_EFS_ROOT=/mnt/efs \
    PYTHONUNBUFFERED=1

# Root is needed to create share directories with their users' owners on EFS (through
# a root access point); the controller never follows links it finds there.
# The task definition passes the desired-state source and region, e.g.
#   run --desired https://git.example.com/platform/estate.git --git-subdir desired_state
#       --region us-east-1 --efs-root /mnt/efs
ENTRYPOINT ["studioctl"]
CMD ["run", "--help"]
