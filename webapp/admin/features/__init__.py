"""Behaviour a model view gains by listing a mixin: who may open what (``access``), soft delete
and the trash (``soft_delete``), bulk tag actions and tag badges (``tag_actions``), an audit entry
per change (``auditing``), and refusing a save over someone else's newer one (``concurrency``).

Each feature is written once and declared by the views that want it. Features may import the
``listing`` and ``inputs`` rooms, ``webapp.admin.mixin_bases``, the domain modules that do the
work (``webapp.trash``, ``webapp.tagging``, ``webapp.audit``) and the models; never
``webapp.admin.base`` or a view.
"""
