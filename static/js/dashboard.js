/* Database health dashboard: refreshes the server-rendered page from data.json, sorts tables
 * and draws the history charts. Column keys and formats come from the table headers, so the
 * template stays the one place where tables are defined. */
(function () {
  "use strict";

  var root = document.getElementById("dashboard");
  if (!root) { return; }
  var source = root.getAttribute("data-source");
  var refreshMs = Number(root.getAttribute("data-refresh-seconds")) * 1000;
  var problem = document.getElementById("dashboard-problem");
  var pauseButton = document.getElementById("dashboard-pause");
  var paused = false;
  var timer = null;
  var SVG = "http://www.w3.org/2000/svg";
  var BYTE_UNITS = ["B", "kB", "MB", "GB", "TB"];

  function lookup(data, path) {
    return path.split(".").reduce(function (value, key) {
      return value === null || value === undefined ? undefined : value[key];
    }, data);
  }

  function grouped(value, decimals) {
    return value.toLocaleString("en-US", { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
  }

  function milliseconds(value) {
    if (value < 10) { return value.toFixed(2); }
    if (value < 100) { return value.toFixed(1); }
    return grouped(value, 0);
  }

  function duration(milliseconds) {
    var units = [[3600000, "h"], [60000, "min"], [1000, "s"]];
    for (var i = 0; i < units.length; i += 1) {
      if (milliseconds >= units[i][0]) { return grouped(milliseconds / units[i][0], 1) + " " + units[i][1]; }
    }
    return Math.round(milliseconds) + " ms";
  }

  function bytes(value) {
    var unit = 0;
    while (value >= 1024 && unit < BYTE_UNITS.length - 1) { value /= 1024; unit += 1; }
    return value.toFixed(unit === 0 ? 0 : 1) + " " + BYTE_UNITS[unit];
  }

  function ago(value, now) {
    var seconds = Math.max((Date.parse(now) - Date.parse(value)) / 1000, 0);
    var units = [[86400, "d"], [3600, "h"], [60, "min"]];
    for (var i = 0; i < units.length; i += 1) {
      if (seconds >= units[i][0]) { return Math.floor(seconds / units[i][0]) + " " + units[i][1] + " ago"; }
    }
    return Math.round(seconds) + " s ago";
  }

  /* Mirrors figure() in webapp/admin/views/dashboard.py. */
  function figure(value, kind, now) {
    if (value === null || value === undefined || value === "") { return "\u2014"; }
    switch (kind) {
      case "count": return grouped(value, 0);
      case "ms": return milliseconds(value);
      case "duration": return duration(value);
      case "seconds": return grouped(value, 1) + " s";
      case "percent": return (value * 100).toFixed(1) + " %";
      case "bytes": return bytes(value);
      case "ago": return ago(value, now);
      case "status": return value ? "stale" : "live";
      case "clock": return new Date(value).toISOString().slice(11, 19) + " UTC";
      default: return String(value);
    }
  }

  /* Mirrors noun_for() in webapp/formatting.py: 1 connection, 0 connections. */
  function nounFor(count, singular, plural) {
    return count === 1 ? singular : plural;
  }

  function renderFields(data) {
    document.querySelectorAll("[data-field]").forEach(function (element) {
      element.textContent = figure(lookup(data, element.getAttribute("data-field")),
        element.getAttribute("data-format"), data.generated_at);
    });
    document.querySelectorAll("[data-unit-of]").forEach(function (element) {
      element.textContent = nounFor(lookup(data, element.getAttribute("data-unit-of")),
        element.getAttribute("data-singular"), element.getAttribute("data-plural"));
    });
    document.querySelectorAll("[data-show-if], [data-hide-if]").forEach(function (element) {
      var showing = element.hasAttribute("data-show-if");
      var value = lookup(data, element.getAttribute(showing ? "data-show-if" : "data-hide-if"));
      var present = Boolean(value) && !(Array.isArray(value) && value.length === 0);
      element.hidden = showing ? !present : present;
    });
  }

  function renderFindings(data) {
    var box = document.getElementById("dashboard-findings");
    var findings = data.findings.length ? data.findings
      : [{ level: "success", message: "Pools and database look healthy." }];
    box.textContent = "";
    findings.forEach(function (finding) {
      var alert = document.createElement("div");
      alert.className = "alert alert-" + finding.level + " py-2 mb-2";
      alert.textContent = finding.message;
      if (finding.threshold) {
        var threshold = document.createElement("small");
        threshold.className = "dashboard-threshold";
        threshold.textContent = "threshold: " + finding.threshold;
        alert.appendChild(document.createTextNode(" "));
        alert.appendChild(threshold);
      }
      box.appendChild(alert);
    });
  }

  /* ---- tables ---- */

  function columnsOf(table) {
    return Array.prototype.map.call(table.tHead.rows[0].cells, function (th) {
      return { key: th.getAttribute("data-key"), kind: th.getAttribute("data-format"), className: th.className,
        label: th.textContent.trim() };
    });
  }

  function renderTable(table, rows, now) {
    var columns = columnsOf(table);
    var flags = JSON.parse(table.getAttribute("data-flags") || "{}");
    var body = document.createElement("tbody");
    (rows || []).forEach(function (row) {
      var tr = body.insertRow();
      Object.keys(flags).forEach(function (key) { if (lookup(row, key)) { tr.classList.add(flags[key]); } });
      columns.forEach(function (column) {
        var value = lookup(row, column.key);
        var td = tr.insertCell();
        td.className = column.className;
        td.setAttribute("data-sort", value === null || value === undefined || column.kind === "link" ? "" : value);
        if (column.kind === "link") {
          if (value) {
            var link = document.createElement("a");
            link.href = value;
            link.textContent = column.label;
            td.appendChild(link);
          }
        } else {
          td.textContent = figure(value, column.kind, now);
        }
        if (column.kind === "sql") { td.classList.add("dashboard-sql"); td.title = value || ""; }
      });
    });
    if (!body.rows.length) {
      var empty = body.insertRow();
      empty.className = "dashboard-empty";
      var cell = empty.insertCell();
      cell.colSpan = columns.length;
      cell.textContent = table.getAttribute("data-empty");
    }
    table.replaceChild(body, table.tBodies[0]);
    applySort(table);
  }

  function sortValue(cell) {
    var raw = cell.getAttribute("data-sort");
    if (raw === null || raw === "") { return null; }
    var number = Number(raw);
    return isNaN(number) ? raw.toLowerCase() : number;
  }

  function applySort(table) {
    var index = Number(table.getAttribute("data-sort-column"));
    if (table.getAttribute("data-sort-column") === null) { return; }
    var direction = table.getAttribute("data-sort-direction") === "asc" ? 1 : -1;
    var body = table.tBodies[0];
    var rows = Array.prototype.filter.call(body.rows, function (row) { return !row.classList.contains("dashboard-empty"); });
    rows.sort(function (a, b) {
      var x = sortValue(a.cells[index]);
      var y = sortValue(b.cells[index]);
      if (x === y) { return 0; }
      if (x === null) { return 1; }   /* blanks last, whichever the direction */
      if (y === null) { return -1; }
      return (x < y ? -1 : 1) * direction;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, position) {
      th.setAttribute("aria-sort", position === index ? (direction === 1 ? "ascending" : "descending") : "none");
    });
  }

  function makeSortable(table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, index) {
      th.tabIndex = 0;
      function sortHere() {
        var same = table.getAttribute("data-sort-column") === String(index);
        var numeric = th.classList.contains("text-right");
        var direction = same ? (table.getAttribute("data-sort-direction") === "asc" ? "desc" : "asc")
          : (numeric ? "desc" : "asc");
        table.setAttribute("data-sort-column", index);
        table.setAttribute("data-sort-direction", direction);
        applySort(table);
      }
      th.addEventListener("click", sortHere);
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sortHere(); }
      });
    });
  }

  /* ---- charts ---- */

  var CHART = { width: 640, height: 190, left: 44, right: 12, top: 12, bottom: 26 };

  function svgElement(name, attributes, text) {
    var element = document.createElementNS(SVG, name);
    Object.keys(attributes).forEach(function (key) { element.setAttribute(key, attributes[key]); });
    if (text !== undefined) { element.textContent = text; }
    return element;
  }

  function niceCeiling(value) {
    if (value <= 0) { return 1; }
    var magnitude = Math.pow(10, Math.floor(Math.log10(value)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i += 1) {
      if (steps[i] * magnitude >= value) { return steps[i] * magnitude; }
    }
    return 10 * magnitude;
  }

  function clock(time) {
    return new Date(time).toISOString().slice(11, 16);
  }

  /* series: [{key, className}]; reference: a dashed horizontal line (pool capacity) or null. */
  function drawChart(svg, history, end, series, reference) {
    var start = Date.parse(history.since);
    var finish = Date.parse(end);
    var plotWidth = CHART.width - CHART.left - CHART.right;
    var plotHeight = CHART.height - CHART.top - CHART.bottom;
    var highest = reference || 0;
    history.points.forEach(function (point) {
      series.forEach(function (line) { highest = Math.max(highest, point[line.key]); });
    });
    var top = niceCeiling(highest);
    function x(time) { return CHART.left + (Date.parse(time) - start) / (finish - start) * plotWidth; }
    function y(value) { return CHART.top + plotHeight - value / top * plotHeight; }

    svg.textContent = "";
    [0, top / 2, top].forEach(function (value) {
      svg.appendChild(svgElement("line", { x1: CHART.left, x2: CHART.width - CHART.right, y1: y(value), y2: y(value), "class": "grid" }));
      svg.appendChild(svgElement("text", { x: CHART.left - 6, y: y(value) + 4, "class": "axis", "text-anchor": "end" },
        value >= 100 ? Math.round(value).toLocaleString("en-US") : String(Math.round(value * 10) / 10)));
    });
    [[history.since, "start"], [new Date((start + finish) / 2).toISOString(), "middle"], [end, "end"]].forEach(function (tick) {
      svg.appendChild(svgElement("text", { x: x(tick[0]), y: CHART.height - 6, "class": "axis", "text-anchor": tick[1] },
        clock(tick[0]) + (tick[1] === "end" ? " UTC" : "")));
    });
    if (reference) {
      svg.appendChild(svgElement("line", { x1: CHART.left, x2: CHART.width - CHART.right, y1: y(reference), y2: y(reference), "class": "reference" }));
    }
    if (!history.points.length) {
      svg.appendChild(svgElement("text", { x: CHART.left + plotWidth / 2, y: CHART.top + plotHeight / 2, "class": "empty", "text-anchor": "middle" },
        "No samples in this range yet: each worker records one per minute."));
      return;
    }
    /* A gap longer than two points means no worker reported: break the line there. */
    var gapMs = history.minutes_per_point * 60000 * 2;
    series.forEach(function (line) {
      var segments = [[]];
      history.points.forEach(function (point, index) {
        var previous = history.points[index - 1];
        if (previous && Date.parse(point.at) - Date.parse(previous.at) > gapMs) { segments.push([]); }
        segments[segments.length - 1].push(x(point.at).toFixed(1) + "," + y(point[line.key]).toFixed(1));
      });
      segments.forEach(function (segment) {
        if (segment.length === 1) {
          var xy = segment[0].split(",");
          svg.appendChild(svgElement("circle", { cx: xy[0], cy: xy[1], r: 2.5, "class": "point " + line.className }));
        } else {
          svg.appendChild(svgElement("polyline", { points: segment.join(" "), "class": "series " + line.className }));
        }
      });
    });
  }

  function renderCharts(data) {
    if (!data.history.points) { return; }  /* the history panel is unavailable: its alert says why */
    root.querySelectorAll("svg[data-chart]").forEach(function (svg) {
      var chart = svg.getAttribute("data-chart");
      if (chart === "connections") {
        drawChart(svg, data.history, data.generated_at, [{ key: "checked_out", className: "series-a" }], data.pool.capacity);
      } else if (chart === "slow") {
        drawChart(svg, data.history, data.generated_at, [{ key: "slow_calls", className: "series-a" }], null);
      } else {
        drawChart(svg, data.history, data.generated_at,
          [{ key: "wait_max_ms", className: "series-b" }, { key: "wait_p95_ms", className: "series-a" }], null);
      }
    });
  }

  /* ---- refresh ---- */

  function render(data) {
    renderFields(data);
    renderFindings(data);
    root.querySelectorAll("table[data-rows]").forEach(function (table) {
      renderTable(table, lookup(data, table.getAttribute("data-rows")), data.generated_at);
    });
    renderCharts(data);
    problem.hidden = true;
  }

  function showProblem(message) {
    problem.textContent = message;
    problem.hidden = false;
  }

  function refresh() {
    return fetch(source, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401) {
          stop();
          showProblem("Signed out: reload the page to sign in again.");
          return null;
        }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (data) { if (data) { render(data); } })
      .catch(function (error) { showProblem("Refresh failed (" + error.message + "); retrying."); });
  }

  function schedule() {
    timer = window.setTimeout(function () {
      if (paused || document.hidden) { schedule(); return; }
      refresh().then(function () { if (timer !== null) { schedule(); } });
    }, refreshMs);
  }

  function stop() {
    window.clearTimeout(timer);
    timer = null;
  }

  pauseButton.addEventListener("click", function () {
    paused = !paused;
    pauseButton.setAttribute("aria-pressed", String(paused));
    pauseButton.innerHTML = paused ? '<i class="fa fa-play" aria-hidden="true"></i> Resume'
      : '<i class="fa fa-pause" aria-hidden="true"></i> Pause';
    if (!paused) { refresh(); }
  });

  var resetForm = document.getElementById("dashboard-reset");
  if (resetForm) {
    resetForm.addEventListener("submit", function (event) {
      if (!window.confirm(resetForm.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  }

  root.querySelectorAll("table[data-rows]").forEach(makeSortable);
  refresh().then(schedule);
}());
