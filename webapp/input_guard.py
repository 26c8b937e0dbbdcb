"""Text the database cannot take: a NUL character in a query argument or a form field.

psycopg2 refuses to send a string containing NUL (``ValueError``) wherever the text is going:
a search, a filter, a picker, a form. Nobody types one; it only arrives in a crafted or corrupted
request, which is refused at the door with a message, before anything reads it.
"""

from __future__ import annotations

from flask import Flask, abort, request

NUL = "\x00"


def refuse_nul_characters() -> None:
    for fields in (request.args, request.form):
        for name, value in fields.items(multi=True):
            if NUL in name or NUL in value:
                abort(400, "The request contains a NUL character, which no field accepts. Nothing was changed.")


def init_input_guard(app: Flask) -> None:
    app.before_request(refuse_nul_characters)
