"""Entry point: ``gunicorn app:server`` in production, ``python app.py`` locally.

``python app.py`` binds 127.0.0.1:8050 with debug off; set HOST, PORT or
LOSSLAB_DEBUG=1 to change that.
"""

import os

from losslab.dashboard import create_app, finish_setup

app = create_app()
server = app.server
debug = os.environ.get("LOSSLAB_DEBUG") == "1"
if not (debug and __name__ == "__main__"):
    # Dash's dev tools add their error handler when the dev server starts, which Flask refuses once
    # the app has answered a request: with LOSSLAB_DEBUG=1 Dash runs its setup on the first request.
    finish_setup(app)

if __name__ == "__main__":
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "8050")), debug=debug)
