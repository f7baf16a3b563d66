"""studio-operator: keeps SageMaker Studio estates converged to a desired state in git."""

__version__ = "0.1.0"
