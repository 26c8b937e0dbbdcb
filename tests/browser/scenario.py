"""The records the journeys work on: a small operations team's tasks, as an operator would see them.

Plausible names make the screenshots read like the real thing; every journey seeds its own copy
(tables are emptied before each test), so journeys never depend on each other's changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tests import factories
from webapp.models import TaskPriority, TaskStatus

TAGS = {
    "urgent": "#dc3545",
    "backend": "#007bff",
    "customer": "#28a745",
    "ops": "#ffc107",
    "docs": "#6f42c1",
}
PEOPLE = [
    ("maria", "Maria Santos"),
    ("kenji", "Kenji Watanabe"),
    ("amara", "Amara Okafor"),
    ("lukas", "Lukas Berg"),
]
# title, owner, status, priority, tags, due in days (None: no due date)
TASKS = [
    (
        "Renew the TLS certificate of the API gateway",
        "kenji",
        TaskStatus.ACTIVE,
        TaskPriority.CRITICAL,
        ["urgent", "ops"],
        2,
    ),
    (
        "Rotate the read-only database credentials",
        "kenji",
        TaskStatus.PENDING,
        TaskPriority.HIGH,
        ["ops", "backend"],
        7,
    ),
    ("Answer the invoice question from Northwind", "amara", TaskStatus.ACTIVE, TaskPriority.MEDIUM, ["customer"], 1),
    (
        "Write the runbook for failing over PostgreSQL",
        "lukas",
        TaskStatus.PENDING,
        TaskPriority.HIGH,
        ["docs", "ops"],
        14,
    ),
    (
        "Fix the CSV export of archived orders",
        "maria",
        TaskStatus.ACTIVE,
        TaskPriority.HIGH,
        ["backend", "customer"],
        3,
    ),
    ("Review the on-call rota for December", "lukas", TaskStatus.INACTIVE, TaskPriority.LOW, [], None),
    ("Migrate the mail relay to the new host", "kenji", TaskStatus.PENDING, TaskPriority.MEDIUM, ["ops"], 21),
    ("Onboard Contoso's support team", "amara", TaskStatus.ACTIVE, TaskPriority.MEDIUM, ["customer", "docs"], 5),
    ("Archive last year's audit exports", "maria", TaskStatus.INACTIVE, TaskPriority.LOW, ["ops"], None),
    ("Speed up the order search page", "maria", TaskStatus.PENDING, TaskPriority.MEDIUM, ["backend"], 10),
    ("Update the API changelog for 4.2", "lukas", TaskStatus.ACTIVE, TaskPriority.LOW, ["docs"], 4),
    (
        "Escalate the payment provider outage",
        "amara",
        TaskStatus.ACTIVE,
        TaskPriority.CRITICAL,
        ["urgent", "customer"],
        0,
    ),
]

DESCRIPTIONS = {
    "Renew the TLS certificate of the API gateway": "The certificate expires on Friday. Renew it with the "
    "provider, deploy it to both gateways and check the chain with openssl s_client.",
    "Rotate the read-only database credentials": "The reporting service and the BI dashboards use them. "
    "Create the new role first, switch the consumers over, then drop the old role.",
    "Escalate the payment provider outage": "Card payments fail for about 3% of checkouts since 09:40. "
    "The provider's status page says nothing yet.",
}
METADATA = {
    "Renew the TLS certificate of the API gateway": {"hosts": ["gw-1", "gw-2"], "ticket": "OPS-1412"},
    "Rotate the read-only database credentials": {"ticket": "OPS-1398", "consumers": ["reporting", "bi"]},
}


@dataclass
class Scenario:
    """Ids by name, to look rows up in the database after the browser has changed them."""

    users: dict[str, int] = field(default_factory=dict)
    tags: dict[str, int] = field(default_factory=dict)
    tasks: dict[str, int] = field(default_factory=dict)

    def task_titles_of(self, username: str) -> set[str]:
        return {title for title, owner, *_ in TASKS if owner == username}


def seed_operations_team() -> Scenario:
    """Needs an app context; commits everything."""
    scenario = Scenario()
    tags = {name: factories.make_tag(name=name, color=colour) for name, colour in TAGS.items()}
    users = {
        username: factories.make_user(username=username, full_name=full_name, email=f"{username}@ops.example")
        for username, full_name in PEOPLE
    }
    today = datetime.now(UTC).replace(hour=17, minute=0, second=0, microsecond=0)
    # Oldest first: the list shows newest first, so the first task ends up at the bottom.
    for title, owner, status, priority, tag_names, due_in in reversed(TASKS):
        task = factories.make_task(
            title=title,
            owner=users[owner],
            status=status,
            priority=priority,
            tags=[tags[name] for name in tag_names],
            due_at=None if due_in is None else today + timedelta(days=due_in),
            description=DESCRIPTIONS.get(title),
            metadata_=METADATA.get(title, {}),
        )
        scenario.tasks[title] = task.id
    scenario.users = {username: user.id for username, user in users.items()}
    scenario.tags = {name: tag.id for name, tag in tags.items()}
    return scenario
