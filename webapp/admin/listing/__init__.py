"""The list-page engine: how a model view's list query is built for a page or an export
(``list_page``), counted (``counting``), paged by cursor (``keyset``), its row links built
(``row_urls``), its values formatted (``display``) and streamed as CSV (``export``), and what
belongs to one record listed on its page (``related``).

It does what Flask-Admin's ``get_list`` and export would, for a fixed cost per page (see
docs/performance.md). Listing may import ``inputs``, ``webapp.admin.compat``,
``webapp.admin.mixin_bases``, the helpers ``webapp.formatting``, ``webapp.database_limits``,
``webapp.heartbeat`` and the models; never ``features``, ``base`` or a view.
"""
