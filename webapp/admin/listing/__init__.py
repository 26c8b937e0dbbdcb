"""The list-page engine: how a model view's list is counted (``counting``), paged by cursor
(``keyset``), drawn row by row and cell by cell (``list_rows``, ``cells``, ``row_urls``), its
values formatted (``display``) and streamed as CSV (``export``).

It redraws what Flask-Admin's list template and export would, for a fixed cost per page (see
docs/performance.md). Listing may import ``inputs``, ``webapp.admin.mixin_bases``, the helpers
``webapp.formatting``, ``webapp.database_limits``, ``webapp.heartbeat`` and the models; never
``features``, ``base`` or a view.
"""
