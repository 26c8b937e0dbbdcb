"""The Flask-Admin classes that the admin mixins (and the hooks of ``compat``) are written for, as their bases for mypy.

A mixin calls into the view or filter it is mixed into (``super().get_query()``,
``self.render(…)``); naming that class as its base tells mypy where those come from. At run time
the base is ``object``, so a view lists its mixins before the Flask-Admin class and the MRO stays
as it is. Flask-Admin ships no type information: to mypy these bases are ``Any``, and calls into
them go unchecked, as every call into Flask-Admin does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["AdminMixinBase", "ConverterMixinBase", "FilterMixinBase", "ModelViewMixinBase", "ViewMixinBase"]

if TYPE_CHECKING:
    from flask_admin import Admin as AdminMixinBase
    from flask_admin.base import BaseView as ViewMixinBase
    from flask_admin.contrib.sqla import ModelView as ModelViewMixinBase
    from flask_admin.contrib.sqla.form import AdminModelConverter as ConverterMixinBase
    from flask_admin.model.filters import BaseFilter as FilterMixinBase
else:
    AdminMixinBase = ConverterMixinBase = FilterMixinBase = ModelViewMixinBase = ViewMixinBase = object
