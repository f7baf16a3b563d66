"""Events: changes made outside git, noticed within seconds (EventBridge -> SQS).

keys.py turns an event into the key of what to look at again (pure); listener.py
long-polls the queue on a thread of its own and hands the keys to the controller.
"""

# The queue's name as the controller stack (and, locally, the emulator) makes it.
QUEUE_NAME = "studio-operator-events"
