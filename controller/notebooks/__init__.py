"""SageMaker notebook instances: what the desired state says about them, pure.

The NotebookInstance kind's spec (spec.py) and the facts about notebook platforms the
planner needs (which settings AWS can change in place, whose uid owns the volume on
each platform). Observing (controller.observe.notebooks), planning
(controller.plan.notebooks) and acting (controller.actions.notebooks) live in their
layers. This package must not do I/O or import boto3.
"""
