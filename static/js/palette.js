/* The command palette (Ctrl+K) and the keyboard shortcuts of every admin page.

   Everything it offers is read from the page itself: the menu's links (every list, trash,
   the audit log, the dashboard), the page's own tabs and actions (Create, Export, Import,
   Trash), and "<model> <id>" to open a record. Nothing is fetched from anywhere. */

(function () {
  "use strict";

  var RECORD = /^\s*(user|task|post|tag)s?\s*#?\s*(\d+)\s*$/i;
  var dialog, input, list, help;

  function typing(event) {
    var target = event.target;
    return target.closest && target.closest("input, textarea, select, [contenteditable], .select2-container");
  }

  function entries() {
    var seen = {};
    var found = [];
    document.querySelectorAll("#admin-navbar-collapse a.dropdown-item[href], #admin-navbar-collapse a.nav-link[href], main .nav-tabs a.nav-link[href]")
      .forEach(function (link) {
        var name = link.textContent.replace(/\s+/g, " ").trim();
        var href = link.getAttribute("href");
        if (!name || href === "#" || seen[name + href]) {
          return;
        }
        seen[name + href] = true;
        var group = link.closest(".dropdown");
        var category = group ? group.querySelector(".dropdown-toggle") : null;
        found.push({ name: (category ? category.textContent.trim() + ": " : "") + name, href: href });
      });
    return found;
  }

  function matching(text) {
    var record = RECORD.exec(text);
    var words = text.toLowerCase().split(/\s+/).filter(Boolean);
    var found = entries().filter(function (entry) {
      var name = entry.name.toLowerCase();
      return words.every(function (word) { return name.indexOf(word) !== -1; });
    });
    if (record) {
      var home = document.querySelector("a.navbar-brand").getAttribute("href").replace(/\/$/, "");
      found.unshift({
        name: "Open " + record[1].toLowerCase() + " #" + record[2],
        href: home + "/" + record[1].toLowerCase() + "/details/?id=" + record[2],
      });
    }
    return found.slice(0, 12);
  }

  function draw() {
    list.innerHTML = "";
    matching(input.value).forEach(function (entry, index) {
      var option = document.createElement("li");
      option.id = "palette-option-" + index;
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", index === 0 ? "true" : "false");
      option.className = "list-group-item" + (index === 0 ? " active" : "");
      option.dataset.href = entry.href;
      option.textContent = entry.name;
      list.appendChild(option);
    });
    var first = list.firstElementChild;
    input.setAttribute("aria-activedescendant", first ? first.id : "");
  }

  function move(step) {
    var options = Array.prototype.slice.call(list.children);
    var current = options.findIndex(function (option) { return option.getAttribute("aria-selected") === "true"; });
    if (!options.length) {
      return;
    }
    var next = (current + step + options.length) % options.length;
    options.forEach(function (option, index) {
      option.setAttribute("aria-selected", index === next ? "true" : "false");
      option.classList.toggle("active", index === next);
    });
    input.setAttribute("aria-activedescendant", options[next].id);
  }

  function go(option) {
    if (option) {
      window.location.assign(option.dataset.href);
    }
  }

  function open() {
    input.value = "";
    draw();
    dialog.showModal();
    input.focus();
  }

  function clickIfThere(selector) {
    var link = document.querySelector(selector);
    if (link) {
      link.click();
    }
    return !!link;
  }

  document.addEventListener("DOMContentLoaded", function () {
    dialog = document.getElementById("command-palette");
    help = document.getElementById("keyboard-help");
    if (!dialog || !help) {
      return;
    }
    input = dialog.querySelector("input");
    list = dialog.querySelector("ul");
    input.addEventListener("input", draw);
    input.addEventListener("keydown", function (event) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        move(event.key === "ArrowDown" ? 1 : -1);
      } else if (event.key === "Enter") {
        event.preventDefault();
        go(list.querySelector('[aria-selected="true"]'));
      }
    });
    list.addEventListener("click", function (event) {
      go(event.target.closest("[role=option]"));
    });
    document.querySelectorAll("dialog [data-close-dialog]").forEach(function (button) {
      button.addEventListener("click", function () { button.closest("dialog").close(); });
    });
  });

  document.addEventListener("keydown", function (event) {
    if (!dialog || !help) {
      return;
    }
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "k") {
      event.preventDefault();
      open();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event) || dialog.open || help.open) {
      return;
    }
    var done = false;
    if (event.key === "/") {
      var search = document.querySelector('main form[role="search"] input[name="search"]');
      if (search) {
        search.focus();
        done = true;
      } else {
        open();
        done = true;
      }
    } else if (event.key === "n") {
      done = clickIfThere('main .nav-tabs a[href*="/new/"]');
    } else if (event.key === "]") {
      done = clickIfThere('main .pagination a[rel="next"]');
    } else if (event.key === "[") {
      done = clickIfThere('main .pagination a[rel="prev"]');
    } else if (event.key === "?") {
      help.showModal();
      done = true;
    }
    if (done) {
      event.preventDefault();
    }
  });
})();
