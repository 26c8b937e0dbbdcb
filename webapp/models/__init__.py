"""Every model, importable from one place (and registered on the metadata for migrations)."""

from webapp.models.audit import AuditEntry
from webapp.models.audit_chain import AuditChain, AuditLink, AuditVerification
from webapp.models.enums import (
    AuditAction,
    OperatorRole,
    PostStatus,
    TaskPriority,
    TaskStatus,
)
from webapp.models.imports import ImportBatch, ImportProgress, ImportRow, ImportState, RowAction
from webapp.models.login_failures import LoginFailure
from webapp.models.operator_sessions import OperatorSession
from webapp.models.operators import Operator
from webapp.models.posts import Post
from webapp.models.saved_views import SavedView
from webapp.models.tags import Tag
from webapp.models.tasks import Task
from webapp.models.users import User

__all__ = [
    "AuditAction",
    "AuditChain",
    "AuditEntry",
    "AuditLink",
    "AuditVerification",
    "ImportBatch",
    "ImportProgress",
    "ImportRow",
    "ImportState",
    "LoginFailure",
    "Operator",
    "OperatorRole",
    "OperatorSession",
    "Post",
    "PostStatus",
    "RowAction",
    "SavedView",
    "Tag",
    "Task",
    "TaskPriority",
    "TaskStatus",
    "User",
]
