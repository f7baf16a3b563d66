"""Loading and validating desired state: a folder (or file) of YAML documents in, a
validated controller.model.DesiredState out, or every problem located at file:line.

    load_desired_state(path, revision=None) -> DesiredState   (raises DesiredStateError)
    validate_path(path) -> list[Problem]                       (empty when valid)

The stages live in their own modules: sources (files and revision), yamlsafe (safe YAML
with line numbers), schema and messages (JSON Schema per document), build (model
types), catalog, rules and paths (cross-document rules), load (the pipeline). Nothing
here imports boto3 or touches the network.
"""

from controller.desired.load import load_desired_state, validate_path

__all__ = ["load_desired_state", "validate_path"]
