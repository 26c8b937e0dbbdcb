"""``/favicon.ico``: browsers ask for it on their own, whatever the page links.

Our pages link the SVG icon, but a JSON response, a file download or an older browser still makes
the browser request ``/favicon.ico``; a 404 there is a console error on every such page. The same
SVG answers it (browsers sniff the type), public like every static file.
"""

from __future__ import annotations

from flask import Blueprint, current_app, send_from_directory
from werkzeug.wrappers import Response

ICON = "favicon.svg"
ONE_DAY = 24 * 60 * 60

favicon_blueprint = Blueprint("favicon", __name__)


@favicon_blueprint.route("/favicon.ico")
def favicon() -> Response:
    return send_from_directory(current_app.static_folder or "", ICON, mimetype="image/svg+xml", max_age=ONE_DAY)
