"""The losslab Dash dashboard: ids, layout, callbacks and URL state."""

from losslab.dashboard.app_factory import create_app, finish_setup

__all__ = ["create_app", "finish_setup"]
