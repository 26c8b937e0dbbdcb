"""Benchmark the admin against a running server, the way an operator uses it.

    python bench/run.py --url http://127.0.0.1:8000 --email bench@example.com --password … \\
        --database-url postgresql://postgres@127.0.0.1:5432/webapp_bench --requests 20

It signs in through the real login form (CSRF token included), then for every page in ``PAGES``
prints p50/p95 latency over N requests, the response size, the SQL statements and database time
per request (deltas of ``pg_stat_statements`` for the benchmark database, without the benchmark's
own queries), and the "floor": the same page's own SQL timed directly, without the app. Then the
bulk actions on ``--bulk-rows`` selected rows through the real action endpoint, a load run
(``--clients`` concurrent operators on the task list for ``--seconds``: requests/s, p50, p95,
then each server worker's resident memory), and the CSV export (time to first byte, total, the
server workers' peak memory from /proc).

Paths, filters and action names are data (the tables below), so the benchmark follows the admin
as its URLs change. Only the standard library and psycopg2 are needed on the client side.
"""

from __future__ import annotations

import argparse
import http.client
import re
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlencode, urljoin, urlsplit

import psycopg2

# Runnable as ``python bench/run.py`` from a checkout: the cursor format lives in the app.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from webapp.admin.listing.keyset import encode_cursor

# Every statement the benchmark itself sends starts with this, so its own work is left out of
# the server's figures.
OWN = "/* bench */ "
PAGE_SIZE = 50

# Values the page paths and floor SQL refer to as {name}, read from the benchmark database
# (besides {deep_page} and {deep_offset}, from --deep-page). "Deep" is the last row before the
# deep page, whose sort key the keyset "next" link carries.
PLACEHOLDERS = {
    "tag_id": "SELECT id FROM tags ORDER BY lower(name) = 'urgent' DESC, id LIMIT 1",
    "task_id": "SELECT max(id) FROM tasks WHERE deleted_at IS NULL",
    "deep_created_at": "SELECT created_at FROM tasks WHERE deleted_at IS NULL "
    "ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET {deep_offset} - 1",
    "deep_id": "SELECT id FROM tasks WHERE deleted_at IS NULL "
    "ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET {deep_offset} - 1",
}
# The keyset cursors of the users' and posts' second pages ({user_cursor}, {post_cursor}): the sort
# key of the last row of each list's first page, as its "Next" link carries it.
SECOND_PAGE_CURSORS = {
    name: f"SELECT created_at, id FROM (SELECT created_at, id FROM {table} WHERE deleted_at IS NULL "
    f"ORDER BY created_at DESC, id DESC LIMIT {PAGE_SIZE}) page ORDER BY created_at, id LIMIT 1"
    for name, table in (("user_cursor", "users"), ("post_cursor", "posts"))
}


def searched(*words: str) -> str:
    """The WHERE clause Flask-Admin builds for a search: every word, in title or description."""
    return " AND ".join(f"(t.title ILIKE '%{word}%' OR t.description ILIKE '%{word}%')" for word in words)


# The SQL a task list page needs at minimum, in one statement: its rows, owners and tags.
LIST_FLOOR = (
    "SELECT p.*, u.email, (SELECT array_agg(g.name) FROM task_tags tt JOIN tags g ON g.id = tt.tag_id "
    "WHERE tt.task_id = p.id) FROM (SELECT t.* FROM tasks t WHERE t.deleted_at IS NULL {where} "
    "ORDER BY t.created_at DESC, t.id DESC LIMIT 50 OFFSET {offset}) p JOIN users u ON u.id = p.owner_id "
    "ORDER BY p.created_at DESC, p.id DESC"
)


def list_floor(where: str = "", offset: str = "0") -> tuple[str, ...]:
    return (LIST_FLOOR.format(where=where, offset=offset),)


def plain_floor(table: str, where: str = "") -> tuple[str, ...]:
    """A list of rows without owners or tags: 50 live rows, newest first."""
    return (f"SELECT * FROM {table} WHERE deleted_at IS NULL {where} ORDER BY created_at DESC, id DESC LIMIT 50",)


# A post list's rows with their authors and tags, as LIST_FLOOR fetches a task list's.
POST_FLOOR = (
    "SELECT p.*, u.email, (SELECT array_agg(g.name) FROM post_tags pt JOIN tags g ON g.id = pt.tag_id "
    "WHERE pt.post_id = p.id) FROM (SELECT t.* FROM posts t WHERE t.deleted_at IS NULL {where} "
    "ORDER BY t.created_at DESC, t.id DESC LIMIT 50) p JOIN users u ON u.id = p.author_id "
    "ORDER BY p.created_at DESC, p.id DESC"
)
AUDIT_FLOOR = "SELECT * FROM audit_entries {where} ORDER BY created_at DESC, id DESC LIMIT 51 OFFSET {offset}"


@dataclass(frozen=True)
class Page:
    name: str
    path: str
    floor: tuple[str, ...]


PAGES = [
    Page("task list, default sort", "/admin/task/", list_floor()),
    Page("filtered by status", "/admin/task/?flt0_status_is=active", list_floor("AND t.status = 'active'")),
    Page(
        "filtered by one tag",
        "/admin/task/?flt0_tag_is={tag_id}",
        list_floor("AND EXISTS (SELECT 1 FROM task_tags x WHERE x.task_id = t.id AND x.tag_id = {tag_id})"),
    ),
    Page(
        "title search, two common words",
        "/admin/task/?" + urlencode({"search": "Automate nightly"}),
        list_floor("AND " + searched("Automate", "nightly")),
    ),
    Page("title search, no match", "/admin/task/?search=zebra", list_floor("AND " + searched("zebra"))),
    Page("deep page (offset)", "/admin/task/?page={deep_page}", list_floor(offset="{deep_offset}")),
    Page(
        "deep page, keyset (next link)",
        "/admin/task/?after={deep_cursor}",
        list_floor("AND (t.created_at, t.id) < ('{deep_created_at}', {deep_id})"),
    ),
    Page("user list, default sort", "/admin/user/", plain_floor("users")),
    Page("users filtered by active", "/admin/user/?flt0_active_equals=1", plain_floor("users", "AND is_active")),
    Page(
        "users, keyset (next link)",
        "/admin/user/?after={user_cursor}",
        plain_floor("users", "AND (created_at, id) < (SELECT created_at, id FROM users WHERE id = {user_cursor_id})"),
    ),
    Page("post list, default sort", "/admin/post/", (POST_FLOOR.format(where=""),)),
    Page(
        "posts filtered by status",
        "/admin/post/?flt0_status_is=published",
        (POST_FLOOR.format(where="AND t.status = 'published'"),),
    ),
    Page(
        "posts, keyset (next link)",
        "/admin/post/?after={post_cursor}",
        (
            POST_FLOOR.format(
                where="AND (t.created_at, t.id) < (SELECT created_at, id FROM posts WHERE id = {post_cursor_id})"
            ),
        ),
    ),
    Page("tag list (usage counts)", "/admin/tag/", ("SELECT * FROM tags ORDER BY name LIMIT 50",)),
    Page("audit log", "/admin/audit/", (AUDIT_FLOOR.format(where="", offset="0"),)),
    Page(
        "audit log filtered by action",
        "/admin/audit/?flt0_action_equals=tag",
        (AUDIT_FLOOR.format(where="WHERE action = 'tag'", offset="0"),),
    ),
    Page("audit log, second page", "/admin/audit/?page=1", (AUDIT_FLOOR.format(where="", offset="50"),)),
    Page(
        "edit form (owner picker)",
        "/admin/task/edit/?id={task_id}",
        (
            "SELECT t.*, u.email FROM tasks t JOIN users u ON u.id = t.owner_id WHERE t.id = {task_id}",
            "SELECT g.* FROM task_tags tt JOIN tags g ON g.id = tt.tag_id WHERE tt.task_id = {task_id}",
        ),
    ),
]


@dataclass(frozen=True)
class BulkAction:
    """One bulk step as an operator takes it: on ``page`` (which gives the CSRF token and must
    contain ``offer``, or the step is skipped) the selected ids are posted, with ``fields``, to
    ``target``; if the answer is a page asking for input (which tag?), its form is submitted with
    ``answers`` filled in."""

    name: str
    page: str
    target: str
    offer: str
    fields: dict[str, str] = field(default_factory=dict)
    answers: dict[str, str] = field(default_factory=dict)


def list_action(name: str, action: str, answers: dict[str, str] | None = None) -> BulkAction:
    """A Flask-Admin "With selected" action of the task list."""
    offer = f'data-model-action="{action}"'
    return BulkAction(name, "/admin/task/", "/admin/task/action/", offer, {"action": action}, answers or {})


# Run in order on the same rows, so the data set ends as it began. A step that is not offered is
# skipped, and so is every step after it.
BULK_ACTIONS = [
    list_action("add tag", "add_tag", {"tag": "{bulk_tag_id}"}),
    list_action("remove tag", "remove_tag", {"tag": "{bulk_tag_id}"}),
    list_action("soft delete", "delete"),
    BulkAction("restore", "/admin/task/trash/", "/admin/task/trash/restore/", 'action="/admin/task/trash/restore/"'),
]
EXPORT_PATH = "/admin/task/export/csv/"


class Browser:
    """One signed-in operator: a keep-alive connection and the session cookie."""

    def __init__(self, base_url: str, timeout: float) -> None:
        parts = urlsplit(base_url)
        if parts.hostname is None:
            raise SystemExit(f"--url {base_url} names no server; give one like http://127.0.0.1:8000")
        self.base_url = base_url.rstrip("/")
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=timeout)
        self.cookies: dict[str, str] = {}

    def request(
        self, method: str, path: str, form: Sequence[tuple[str, str]] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        response = self.open(method, path, form)
        return response.status, dict(response.getheaders()), response.read()

    def open(self, method: str, path: str, form: Sequence[tuple[str, str]] | None = None) -> http.client.HTTPResponse:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Referer"] = self.base_url + path
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            self.connection.close()  # the server closed a kept-alive connection: retry once
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
        for name, value in response.getheaders():
            if name.lower() == "set-cookie":
                cookie_name, _, rest = value.partition("=")
                self.cookies[cookie_name] = rest.split(";", 1)[0]
        return response

    def sign_in(self, email: str, password: str) -> None:
        _status, _headers, body = self.request("GET", "/login")
        token = csrf_token(body.decode())
        status, headers, _body = self.request(
            "POST", "/login", [("email", email), ("password", password), ("csrf_token", token)]
        )
        if status != 302 or "/login" in headers.get("Location", ""):
            raise SystemExit(f"sign-in as {email} failed (HTTP {status}); check --email/--password")


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"', html)
    if not match:
        raise SystemExit("no CSRF token on the page")
    return match.group(1) or match.group(2)


class FormReader(HTMLParser):
    """The POST forms of a page: each one's action and its fields' current values."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form" and attributes.get("method", "").lower() == "post":
            self.forms.append((attributes.get("action", ""), {}))
            self._inside = True
        elif self._inside and tag in {"input", "select", "textarea"} and attributes.get("name"):
            self.forms[-1][1].setdefault(attributes["name"], attributes.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._inside = False

    def form_with(self, names: Sequence[str]) -> tuple[str, dict[str, str]]:
        """The first form that has every one of ``names`` (the sign-out form comes first)."""
        for action, fields in self.forms:
            if all(name in fields for name in names):
                return action, dict(fields)
        raise LookupError(f"no form with the fields {', '.join(names)}")


@dataclass(frozen=True)
class Snapshot:
    entries: dict[int, tuple[int, float]]
    # Changes when someone resets the statistics or entries are evicted: the delta is then void.
    epoch: tuple[object, ...]


class StatementCounter:
    """The benchmark database's share of ``pg_stat_statements``, minus the benchmark's own.

    The statistics are shared by every database of the server, and anyone may reset them or
    crowd entries out; a window in which that happened is measured again.
    """

    QUERY = (
        OWN + "SELECT queryid, calls, total_exec_time FROM pg_stat_statements "
        "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND query NOT LIKE '/* bench */%' "
        "AND query !~* '^\\s*(BEGIN|COMMIT|ROLLBACK|SET|SHOW|RESET|DISCARD)'"
    )

    def __init__(self, connection: psycopg2.extensions.connection) -> None:
        self.connection = connection
        with connection.cursor() as cursor:
            cursor.execute(OWN + "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")

    def snapshot(self) -> Snapshot:
        with self.connection.cursor() as cursor:
            cursor.execute(OWN + "SELECT dealloc, stats_reset FROM pg_stat_statements_info")
            epoch = tuple(cursor.fetchone())
            cursor.execute(self.QUERY)
            return Snapshot({queryid: (calls, total) for queryid, calls, total in cursor.fetchall()}, epoch)

    @staticmethod
    def delta(before: Snapshot, after: Snapshot) -> tuple[int, float] | None:
        if before.epoch != after.epoch:
            return None
        calls = sum(c - before.entries.get(q, (0, 0.0))[0] for q, (c, _t) in after.entries.items())
        total = sum(t - before.entries.get(q, (0, 0.0))[1] for q, (_c, t) in after.entries.items())
        return calls, total


@dataclass
class PageResult:
    name: str
    status: str
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    kilobytes: float = 0.0
    statements: float = 0.0
    db_ms: float = 0.0
    floor_ms: float = 0.0


def percentile(samples: Sequence[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def fill(template: str, values: dict[str, str]) -> str:
    return template.format(**values)


def measure_page(
    browser: Browser, counter: StatementCounter, db, page: Page, values: dict[str, str], requests: int
) -> PageResult:
    path = fill(page.path, values)
    status, _headers, body = browser.request("GET", path)  # warm-up, and a check that it works
    if status != 200:
        return PageResult(page.name, f"HTTP {status}")
    for _attempt in range(3):
        timings, sizes = [], []
        before = counter.snapshot()
        for _ in range(requests):
            started = time.perf_counter()
            status, _headers, body = browser.request("GET", path)
            timings.append((time.perf_counter() - started) * 1000)
            sizes.append(len(body))
        delta = StatementCounter.delta(before, counter.snapshot())
        if delta is not None:
            break
    else:
        return PageResult(page.name, "pg_stat_statements was reset during every attempt")
    calls, db_ms = delta
    return PageResult(
        page.name,
        "ok",
        percentile(timings, 0.5),
        percentile(timings, 0.95),
        statistics.mean(sizes) / 1024,
        calls / requests,
        db_ms / requests,
        floor_ms(db, [fill(sql, values) for sql in page.floor], requests),
    )


def floor_ms(db, statements: Sequence[str], requests: int) -> float:
    """p50 of running the page's own SQL directly, summed over its statements."""
    total = 0.0
    with db.cursor() as cursor:
        for sql in statements:
            cursor.execute(OWN + sql)  # warm-up
            cursor.fetchall()
            timings = []
            for _ in range(requests):
                started = time.perf_counter()
                cursor.execute(OWN + sql)
                cursor.fetchall()
                timings.append((time.perf_counter() - started) * 1000)
            total += percentile(timings, 0.5)
    return total


def resolve_placeholders(db, deep_page: int) -> dict[str, str]:
    values = {"deep_page": str(deep_page), "deep_offset": str(deep_page * PAGE_SIZE)}
    with db.cursor() as cursor:
        for name, sql in PLACEHOLDERS.items():
            cursor.execute(OWN + fill(sql, values))
            row = cursor.fetchone()
            if row is None or row[0] is None:
                raise SystemExit(f"the benchmark database has no data for {{{name}}}: seed it first")
            values[name] = row[0].isoformat() if hasattr(row[0], "isoformat") else str(row[0])
        cursor.execute(OWN + "SELECT created_at, id FROM tasks WHERE id = %s", (values["deep_id"],))
        values["deep_cursor"] = encode_cursor(cursor.fetchone())
        for name, sql in SECOND_PAGE_CURSORS.items():
            cursor.execute(OWN + sql)
            row = cursor.fetchone()
            if row is None:
                raise SystemExit(f"the benchmark database has no data for {{{name}}}: seed it first")
            values[name], values[f"{name}_id"] = encode_cursor(row), str(row[1])
    return values


def print_table(headers: Sequence[str], rows: Iterator[Sequence[str]]) -> None:
    print("| " + " | ".join(headers) + " |")
    print("|" + "|".join("---" for _ in headers) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def report_pages(results: Sequence[PageResult]) -> None:
    print_table(
        ["page", "p50 ms", "p95 ms", "KB", "statements/req", "db ms/req", "SQL floor ms"],
        (
            [
                r.name,
                f"{r.p50_ms:.1f}",
                f"{r.p95_ms:.1f}",
                f"{r.kilobytes:.1f}",
                f"{r.statements:.1f}",
                f"{r.db_ms:.2f}",
                f"{r.floor_ms:.2f}",
            ]
            if r.status == "ok"
            else [r.name, r.status, "", "", "", "", ""]
            for r in results
        ),
    )


def run_action(browser: Browser, step: BulkAction, ids: Sequence[int], values: dict[str, str]) -> tuple[str, float]:
    """POST the selection; if the answer asks for input (e.g. which tag), fill it in and submit
    it. Returns the outcome and the seconds from the first POST to the last answer."""
    _status, _headers, body = browser.request("GET", step.page)
    page = body.decode()
    if step.offer not in page:
        return f"skipped: not offered on {step.page}", 0.0
    form = [("csrf_token", csrf_token(page)), *step.fields.items()] + [("rowid", str(i)) for i in ids]
    started = time.perf_counter()
    status, headers, body = browser.request("POST", step.target, form)
    if step.answers and status == 302:
        target = urlsplit(urljoin(step.target, headers["Location"]))
        status, headers, body = browser.request("GET", target.path + (f"?{target.query}" if target.query else ""))
    if step.answers and status == 200:
        reader = FormReader()
        reader.feed(body.decode())
        action, fields = reader.form_with(list(step.answers))
        fields.update({name: fill(value, values) for name, value in step.answers.items()})
        status, headers, body = browser.request("POST", urljoin(step.target, action), list(fields.items()))
    elapsed = time.perf_counter() - started
    # Every step ends in a redirect back to its list; a page instead means the form was refused.
    return ("ok" if status == 302 else f"HTTP {status} instead of a redirect"), elapsed


def measure_bulk(browser: Browser, db, rows: int) -> list[tuple[str, str, float]]:
    """Bulk actions on ``rows`` live tasks that lack the chosen tag; the steps undo each other."""
    with db.cursor() as cursor:
        cursor.execute(OWN + "SELECT id FROM tags ORDER BY id DESC LIMIT 1")
        tag_id = cursor.fetchone()[0]
        cursor.execute(
            OWN + "SELECT t.id FROM tasks t WHERE t.deleted_at IS NULL AND NOT EXISTS "
            "(SELECT 1 FROM task_tags x WHERE x.task_id = t.id AND x.tag_id = %s) ORDER BY t.id LIMIT %s",
            (tag_id, rows),
        )
        ids = [row[0] for row in cursor.fetchall()]
    values = {"bulk_tag_id": str(tag_id)}
    results: list[tuple[str, str, float]] = []
    for step in BULK_ACTIONS:
        if results and results[-1][1] != "ok":
            results.append((step.name, "skipped: an earlier step did not run", 0.0))
            continue
        outcome, seconds = run_action(browser, step, ids, values)
        results.append((step.name, outcome, seconds))
    return results


@dataclass(frozen=True)
class WorkerMemory:
    """A process's memory in kB. RSS counts every page it maps, those it shares with the
    preloading master and the other workers too; PSS divides each shared page among its sharers;
    the private pages are what it alone holds (what one more worker would cost)."""

    rss: int
    peak: int
    pss: int
    private: int


def worker_memory(pids: Sequence[int]) -> dict[int, WorkerMemory]:
    """Each process's memory, from /proc (``status`` and ``smaps_rollup``)."""
    memory = {}
    for pid in pids:
        status = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M))
        rollup = dict(re.findall(r"^(\w+):\s+(\d+) kB", Path(f"/proc/{pid}/smaps_rollup").read_text(), re.M))
        private = int(rollup["Private_Clean"]) + int(rollup["Private_Dirty"])
        memory[pid] = WorkerMemory(int(status["VmRSS"]), int(status["VmHWM"]), int(rollup["Pss"]), private)
    return memory


def children_of(pid: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                children.append(int(entry.name))
    return children


def measure_export(browser: Browser, path: str, pids: Sequence[int]) -> dict[str, float]:
    """Time to the first byte (the header line, sent before any query runs), to the first data
    row (the query's first batch), and to the end."""
    started = time.perf_counter()
    response = browser.open("GET", path)
    first = response.read(1)
    first_byte = time.perf_counter() - started
    head = first + response.readline() + response.readline()  # the header line and the first row
    first_row = time.perf_counter() - started
    size, lines = len(head), head.count(b"\n")
    while chunk := response.read(1 << 16):
        size += len(chunk)
        lines += chunk.count(b"\n")
    total = time.perf_counter() - started
    memory = worker_memory(pids) if pids else {}
    return {
        "status": response.status,
        "first_byte_s": first_byte,
        "first_row_s": first_row,
        "total_s": total,
        "megabytes": size / 1e6,
        "rows": max(lines - 1, 0),
        "peak_worker_mb": max((figures.peak for figures in memory.values()), default=0) / 1024,
    }


CONCURRENT_PAGE = "/admin/task/"
# The page number of "deep page (offset)" unless --deep-page says otherwise: offset 500,000.
DEEP_PAGE = 10_000


@dataclass(frozen=True)
class Concurrency:
    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    errors: int

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def measure_concurrency(arguments: argparse.Namespace) -> Concurrency:
    """``--clients`` operators, each signed in on a connection of its own, load the task list as
    fast as the server answers for ``--seconds``: requests/s and latency under contention."""
    browsers = []
    for _ in range(arguments.clients):
        browser = Browser(arguments.url, arguments.timeout)
        browser.sign_in(arguments.email, arguments.password)
        browsers.append(browser)
    return load_run(browsers, CONCURRENT_PAGE, arguments.seconds)


def load_run(browsers: Sequence[Browser], path: str, seconds: float) -> Concurrency:
    """Each browser, on a thread and connection of its own, GETs ``path`` as fast as the server
    answers for ``seconds`` (at least once each, however late its thread starts)."""
    deadline = time.perf_counter() + seconds

    def load(browser: Browser) -> tuple[list[float], int]:
        timings, errors = [], 0
        while True:
            started = time.perf_counter()
            status, _headers, _body = browser.request("GET", path)
            timings.append(time.perf_counter() - started)
            errors += status != 200
            if time.perf_counter() >= deadline:
                return timings, errors

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(browsers)) as pool:
        results = list(pool.map(load, browsers))
    elapsed = time.perf_counter() - started
    timings = sorted(timing for found, _errors in results for timing in found)
    return Concurrency(
        len(timings),
        elapsed,
        percentile(timings, 0.5) * 1000,
        percentile(timings, 0.95) * 1000,
        sum(errors for _found, errors in results),
    )


def report_concurrency(figures: Concurrency, clients: int, pids: Sequence[int], path: str = CONCURRENT_PAGE) -> None:
    print(f"\n## {clients} concurrent clients on {path} for {figures.seconds:.0f} s\n")
    print_table(
        ["requests", "requests/s", "p50 ms", "p95 ms", "errors"],
        iter(
            [
                [
                    f"{figures.requests:,}",
                    f"{figures.per_second:.1f}",
                    f"{figures.p50_ms:.1f}",
                    f"{figures.p95_ms:.1f}",
                    str(figures.errors),
                ]
            ]
        ),
    )
    if pids:
        print("\n## Server workers' memory after the run\n")
        print_table(
            ["pid", "RSS MB (VmRSS)", "peak MB (VmHWM)", "PSS MB", "private MB (USS)"],
            (
                [str(pid), *(f"{kb / 1024:.0f}" for kb in (memory.rss, memory.peak, memory.pss, memory.private))]
                for pid, memory in worker_memory(pids).items()
            ),
        )


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the running server, e.g. http://127.0.0.1:8000")
    parser.add_argument("--email", required=True, help="an operator who may edit (editor or admin)")
    parser.add_argument("--password", required=True)
    parser.add_argument("--database-url", required=True, help="the database the server uses (PostgreSQL)")
    parser.add_argument("--requests", type=int, default=20, help="requests per page (default 20)")
    parser.add_argument(
        "--deep-page", type=int, default=DEEP_PAGE, help=f"page number of the deep page (default {DEEP_PAGE:,})"
    )
    parser.add_argument("--pages", nargs="*", help="only the pages whose name contains one of these words")
    parser.add_argument("--bulk-rows", type=int, default=10_000, help="rows selected for bulk actions (0: skip)")
    parser.add_argument("--export", action=argparse.BooleanOptionalAction, default=True, help="measure the CSV export")
    parser.add_argument(
        "--server-pid",
        type=int,
        action="append",
        default=[],
        help="gunicorn master (its workers are found) or the server process; repeatable",
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for one response")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients of the load run (0: skip)")
    parser.add_argument("--seconds", type=float, default=20, help="length of the load run (default 20)")
    arguments = parser.parse_args(argv)
    if arguments.requests < 1 or arguments.deep_page < 1:
        parser.error("--requests and --deep-page must be at least 1")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    database_url = arguments.database_url.replace("postgresql+psycopg2://", "postgresql://")
    db = psycopg2.connect(database_url)
    db.autocommit = True
    counter = StatementCounter(db)
    values = resolve_placeholders(db, arguments.deep_page)
    browser = Browser(arguments.url, arguments.timeout)
    browser.sign_in(arguments.email, arguments.password)
    pages = [p for p in PAGES if not arguments.pages or any(word in p.name for word in arguments.pages)]

    print(f"## Pages ({arguments.requests} requests each, page size {PAGE_SIZE})\n")
    report_pages([measure_page(browser, counter, db, page, values, arguments.requests) for page in pages])

    if arguments.bulk_rows:
        print(f"\n## Bulk actions on {arguments.bulk_rows:,} selected rows\n")
        results = measure_bulk(browser, db, arguments.bulk_rows)
        print_table(
            ["action", "outcome", "seconds"], ([name, outcome, f"{seconds:.2f}"] for name, outcome, seconds in results)
        )

    pids = [child for pid in arguments.server_pid for child in (children_of(pid) or [pid])]
    if arguments.clients:
        report_concurrency(measure_concurrency(arguments), arguments.clients, pids)

    if arguments.export:
        figures = measure_export(browser, EXPORT_PATH, pids)
        print("\n## CSV export\n")
        print_table(
            ["HTTP", "rows", "MB", "first byte s", "first row s", "total s", "peak worker MB (VmHWM)"],
            iter(
                [
                    [
                        str(figures["status"]),
                        f"{figures['rows']:,}",
                        f"{figures['megabytes']:.1f}",
                        f"{figures['first_byte_s']:.2f}",
                        f"{figures['first_row_s']:.2f}",
                        f"{figures['total_s']:.2f}",
                        f"{figures['peak_worker_mb']:.0f}" if pids else "n/a",
                    ]
                ]
            ),
        )
    db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
