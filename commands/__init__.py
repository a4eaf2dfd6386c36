"""The coordinator actions, defined once: `commands.actions` names each action and its fields (frozen
dataclasses); `commands.handlers` does the work of each in one call to the service layer and returns
an `Outcome` carrying the confirmation message. The CLI, the Prefect flows and the coming web
workspace only build a command and show its outcome (cosmicpython's `domain/commands.py` and
`service_layer/handlers.py`)."""
