"""The local AWS emulator: moto in server mode, extended where the operator needs more.

Everything that stands in for AWS on a machine without AWS lives in this package, and
only here: the werkzeug server on loopback in front of moto, the SageMaker Studio and
EFS behaviour moto lacks (answered from the emulator's own state), real folders for EFS
file systems with a background replicator, fault injection and request counting for
reliability tests, and `prepare_estate`, which creates what infra/cloudformation would
create on AWS. See README.md beside this file. Production code must never import it.
"""

from controller.emulator.prepare import prepare_estate
from controller.emulator.server import Emulator, start_emulator

__all__ = ["Emulator", "prepare_estate", "start_emulator"]
