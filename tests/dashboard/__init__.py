"""Unit tests of the dashboard layer: curves, figures, controls, URL state, views, callbacks."""
