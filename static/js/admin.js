/* Small behaviours of our pages and of Flask-Admin's, attached from data attributes: the Content
   Security Policy runs no inline script, onclick= handler or javascript: link. */

// The element an event happened in, or inside, that matches selector (null when none does).
function closestTo(event, selector) {
  return event.target.closest ? event.target.closest(selector) : null;
}

document.addEventListener("change", function (event) {
  var toggle = event.target;
  if (!toggle.matches || !toggle.matches("input.select-all")) {
    return;
  }
  var boxes = toggle.form.querySelectorAll('input[type="checkbox"][name="' + toggle.dataset.target + '"]');
  boxes.forEach(function (box) { box.checked = toggle.checked; });
});

// Buttons that change data ask first (the list's row delete): data-confirm holds the question.
document.addEventListener("click", function (event) {
  var button = closestTo(event, "[data-confirm]");
  if (button && !window.confirm(button.dataset.confirm)) {
    event.preventDefault();
  }
});

// Links that only carry behaviour (menus, "Add Filter", a filter's remove button) have href="#"
// to be focusable; they never navigate, not even to the top of the page. Caught on the way down:
// Flask-Admin's multi-level dropdown script stops menu toggles' clicks from bubbling up.
document.addEventListener("click", function (event) {
  if (closestTo(event, 'a[href="#"]')) {
    event.preventDefault();
  }
}, true);

// A bulk action of the "With selected" menu (data-model-action: its name). Flask-Admin's
// actions.js (modelActions) checks that rows are selected, asks the action's confirmation and
// submits the action form.
document.addEventListener("click", function (event) {
  var item = closestTo(event, "[data-model-action]");
  if (item) {
    window.modelActions.execute(item.dataset.modelAction);
  }
});

// A refused save: the banner links to each field to fix (data-invalid-field; the server autofocuses
// the first). Select2 hides a picker's real input, so bring the field's form group into view and
// focus its first control, which is what the operator types into.
document.addEventListener("click", function (event) {
  var link = closestTo(event, "a[data-invalid-field]");
  var field = link ? document.getElementById(decodeURIComponent(link.hash.slice(1))) : null;
  var group = field ? field.closest(".form-group") : null;
  if (!group) {
    return;
  }
  event.preventDefault();
  group.scrollIntoView({ block: "center" });
  (group.querySelector('input:not([type="hidden"]), textarea, select') || field).focus({ preventScroll: true });
});

// Names for what Flask-Admin draws without one (the search box's clear cross) and what its scripts
// draw without one, so a screen reader can tell the controls
// apart: select2 pickers (named by their field's label, not by their placeholder; the "remove"
// cross of each chosen tag; their results as a named list box of options) and the filter rows (which
// filter's operation, which filter's value). Run on every change to the page: both draw late.
function labelText(id) {
  var label = id ? document.querySelector('label[for="' + id + '"]') : null;
  return label ? label.textContent.replace(/\*/g, "").trim() : "";
}

function nameOnce(element, name) {
  if (element && name && !element.getAttribute("aria-label")) {
    element.setAttribute("aria-label", name);
  }
}

// A picker's input is labelled by its placeholder (aria-labelledby), not by its field's name.
function nameInput(input, name) {
  if (name) {
    nameOnce(input, name);
    input.removeAttribute("aria-labelledby");
  }
}

function namePickers(root) {
  root.querySelectorAll(".select2-container[id^='s2id_']").forEach(function (container) {
    var name = labelText(container.id.slice(5));
    container.querySelectorAll("input.select2-focusser, input.select2-input").forEach(function (input) {
      nameInput(input, name);
    });
    container.querySelectorAll(".select2-search-choice").forEach(function (choice) {
      nameOnce(choice.querySelector(".select2-search-choice-close"), "Remove " + choice.textContent.trim());
    });
  });
  root.querySelectorAll(".select2-drop .select2-input").forEach(function (input) {
    nameOnce(input, "Search");
  });
  root.querySelectorAll("ul.select2-results").forEach(function (results) {
    results.setAttribute("role", "listbox");
    nameOnce(results, "Choices");
    // select2 marks each result's label as the option; its list item is only the wrapper.
    results.querySelectorAll("li.select2-result").forEach(function (item) {
      item.setAttribute("role", "presentation");
    });
  });
}

function nameFilterRows(root) {
  root.querySelectorAll("table.filters tr").forEach(function (row) {
    var title = row.querySelector(".remove-filter");
    var name = title ? title.textContent.trim() : "Filter";
    nameOnce(title, "Remove the " + name + " filter");
    nameOnce(row.querySelector("select.filter-op"), name + ": how to compare");
    row.querySelectorAll("input.filter-val, select.filter-val, input.select2-focusser, input.select2-input")
      .forEach(function (input) { nameInput(input, name + ": value"); });
  });
}

function nameControls() {
  namePickers(document);
  nameFilterRows(document);
  document.querySelectorAll('form[role="search"] a[href]').forEach(function (link) {
    if (!link.textContent.trim()) {
      nameOnce(link, "Clear the search");
    }
  });
}

new MutationObserver(nameControls).observe(document.documentElement, { childList: true, subtree: true });
document.addEventListener("DOMContentLoaded", nameControls);
