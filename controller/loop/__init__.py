"""The reconcile loop: work queue, reconciler and the long-running controller."""
