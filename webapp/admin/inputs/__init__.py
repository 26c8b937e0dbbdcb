"""What an operator types or picks, read and checked: form fields and converters (``forms``),
list filters (``filters``), the search-as-you-type pickers (``pickers``), local date and time
fields and filters (``datetimes``), ids from URLs and forms (``ids``), the rows ticked for a bulk
action (``selection``) and the bounded list search (``search``).

The lowest room of the admin: inputs may import each other, ``webapp.admin.mixin_bases``,
``webapp.formatting`` and the models; never ``listing``, ``features``, ``base`` or a view.
"""
